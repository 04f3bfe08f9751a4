// The ONNX runtime + TypeScript pipeline against the PyTorch reference on the tiny test packages
// (training/reference/export_tiny.py): denoiser calls to 1e-4, guided trajectories to 1e-3.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { openConditionRuntime, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { loadModelPackage } from "../../src/models/index.ts";
import { denoiserCallErrors, maxAbsDiff, readF32, readGolden, trajectoryError } from "../models/golden.ts";

const packages = ["../fixtures/tiny-model/", "../fixtures/tiny-model/latent/"].map((p) => fileURLToPath(new URL(p, import.meta.url)));

for (const dir of packages) {
  describe(`golden fixture of ${dir.split("fixtures/")[1]}`, () => {
    let runtime: ConditionRuntime;
    const golden = readGolden(dir);
    beforeAll(async () => {
      runtime = await openConditionRuntime(loadModelPackage(dir), { ep: "cpu" });
    });
    afterAll(async () => runtime.dispose());

    it("denoiser calls match PyTorch to 1e-4", async () => {
      for (const error of await denoiserCallErrors(runtime, dir, golden)) expect(error).toBeLessThan(1e-4);
    });

    it("a 10-step DDIM trajectory with guidance matches PyTorch to 1e-3 on the final sample", async () => {
      const { error, timesteps } = await trajectoryError(runtime, dir, golden, { sampler: "ddim", steps: golden.ddim.steps, guidance: golden.ddim.guidance, eta: golden.ddim.eta, final: golden.ddim.final });
      expect(timesteps).toEqual(golden.ddim.timesteps);
      expect(error).toBeLessThan(1e-3);
    });

    for (const trajectory of golden.trajectories ?? []) {
      it(`a ${trajectory.steps}-step ${trajectory.sampler} trajectory with guidance ${trajectory.guidance} matches PyTorch to 1e-3`, async () => {
        expect((await trajectoryError(runtime, dir, golden, trajectory)).error).toBeLessThan(1e-3);
      });
    }

    if (golden.decoderCalls) {
      it("the latent decoder matches PyTorch to 1e-4", async () => {
        const latent = runtime.model.manifest.latent!;
        for (const call of golden.decoderCalls ?? []) {
          const out = await runtime.decoder!.run({ [latent.input]: { type: "float32", data: readF32(dir, call.input), dims: call.inputShape } });
          expect(maxAbsDiff(out[latent.output]!.data, readF32(dir, call.output))).toBeLessThan(1e-4);
        }
      });
    }
  });
}
