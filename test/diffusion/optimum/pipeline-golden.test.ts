// The runtime's Optimum pipeline against the PyTorch reference pipeline (training/optimum/reference_pipeline.py):
// the package loaded as a user installs it, its sessions and layout read from the export, the scheduler built from
// its scheduler_config.json, the golden's initial noise injected through NoiseSource; text embeddings, final
// latents and the decoded image agree to 1e-3 for text-to-image (4-channel UNet, rank-0 float timestep) and
// inpainting (9-channel UNet, int64 [B] timestep; reference and mask decoded from PNG by the request path).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeTexts, openModelRuntime, type ModelRuntime, type OptimumRuntime } from "../../../src/diffusion/index.ts";
import { loadModelPackageAsync, type ModelPackage } from "../../../src/models/index.ts";
import { decodeFloats, decodeTensor, maxAbsDiff, readJsonFixture } from "./golden.ts";
import { installExport, roadManifest } from "./install.ts";
import { exportScheduler, replayGolden, type PipelineGolden } from "./replay.ts";


const TOLERANCE = 1e-3;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "rareforge-optimum-golden-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const asOptimum = (runtime: ModelRuntime): OptimumRuntime => {
  if (runtime.kind !== "optimum") throw new Error("expected an Optimum runtime");
  return runtime;
};

for (const file of ["golden-txt2img.json", "golden-inpaint.json"]) {
  describe(`${file}: the runtime's pipeline matches the PyTorch reference`, () => {
    const golden = readJsonFixture<PipelineGolden>(file);
    let model: ModelPackage;
    let runtime: OptimumRuntime;
    beforeAll(async () => {
      model = await loadModelPackageAsync(await installExport(golden.export, root, roadManifest(golden.export)));
      runtime = asOptimum(await openModelRuntime(model, { ep: "cpu" }));
    });
    afterAll(async () => {
      await runtime?.dispose();
    });

    const scheduler = () => exportScheduler(model);

    it("reads the scheduler config as DDIM on the reference's timesteps", () => {
      const s = scheduler();
      s.setTimesteps(golden.steps);
      expect(model.optimum!.scheduler.sampler).toBe("ddim");
      expect([...s.timesteps]).toEqual(golden.timesteps);
    });

    it("tokenises and encodes [negatives, prompts] as the reference does", async () => {
      const ids = decodeTensor(golden.inputIds).data as BigInt64Array;
      golden.cases.forEach((c, i) => expect(Array.from(runtime.tokenizer.tokenize(c.prompt), BigInt)).toEqual(Array.from(ids.subarray(i * 77, (i + 1) * 77))));
      const { states } = await encodeTexts(runtime, [...golden.cases.map((c) => c.negativePrompt), ...golden.cases.map((c) => c.prompt)]);
      expect(maxAbsDiff(states, decodeFloats(golden.promptEmbeds))).toBeLessThan(TOLERANCE);
    });

    it("denoises to the reference's final latents and decodes to its image", async () => {
      // the request path: PNG reference and mask decoded, sized and checked as generateSamples does
      const { latents, image } = await replayGolden(model, runtime, golden, {
        strength: (strength) => expect(strength).toBe(1),
        noiseDraw: (n, perSample) => expect(n).toBe(perSample),
      });
      expect(maxAbsDiff(latents, decodeFloats(golden.finalLatents))).toBeLessThan(TOLERANCE);
      expect(maxAbsDiff(image, decodeFloats(golden.image))).toBeLessThan(TOLERANCE);
    });
  });
}
