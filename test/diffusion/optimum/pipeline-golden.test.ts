// The runtime's Optimum pipeline against the PyTorch reference pipeline (training/optimum/reference_pipeline.py):
// the package loaded as a user installs it, its sessions and layout read from the export, the scheduler built from
// its scheduler_config.json, the golden's initial noise injected through NoiseSource; text embeddings, final
// latents and the decoded image agree to 1e-3 for text-to-image (4-channel UNet, rank-0 float timestep) and
// inpainting (9-channel UNet, int64 [B] timestep; reference and mask decoded from PNG by the request path).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScheduler, decodeLatents, encodeTexts, openModelRuntime, sampleOptimumLatents, validateRequest, type ModelRuntime, type OptimumRuntime } from "../../../src/diffusion/index.ts";
import { loadModelPackageAsync, type ModelPackage } from "../../../src/models/index.ts";
import { decodeFloats, decodeTensor, maxAbsDiff, OPTIMUM_FIXTURES, readJsonFixture, type StoredTensor } from "./golden.ts";
import { installExport, roadManifest } from "./install.ts";

interface PipelineGolden {
  readonly export: "tiny-sd" | "tiny-sd-inpaint";
  readonly steps: number;
  readonly guidance: number;
  readonly cases: { prompt: string; negativePrompt: string }[];
  readonly timesteps: number[];
  readonly inputIds: StoredTensor;
  readonly promptEmbeds: StoredTensor;
  readonly noise: StoredTensor;
  readonly finalLatents: StoredTensor;
  readonly image: StoredTensor;
  readonly maskLatent?: StoredTensor;
}

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
    const count = golden.cases.length;
    let model: ModelPackage;
    let runtime: OptimumRuntime;
    beforeAll(async () => {
      model = await loadModelPackageAsync(await installExport(golden.export, root, roadManifest(golden.export)));
      runtime = asOptimum(await openModelRuntime(model, { ep: "cpu" }));
    });
    afterAll(async () => {
      await runtime?.dispose();
    });

    const scheduler = () => {
      const exported = model.optimum!;
      return createScheduler(exported.scheduler.sampler, {
        schedule: exported.scheduler.schedule,
        prediction: exported.scheduler.prediction,
        spacing: exported.scheduler.spacing,
        stepsOffset: exported.scheduler.stepsOffset,
        setAlphaToOne: exported.scheduler.setAlphaToOne,
      });
    };

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
      const noise = decodeFloats(golden.noise);
      const perSample = noise.length / count;
      let reference = null;
      if (golden.maskLatent) {
        // the request path: PNG reference and mask decoded, sized and checked as generateSamples does
        const prepared = validateRequest({
          model,
          sampler: "ddim",
          steps: golden.steps,
          guidance: golden.guidance,
          seed: 0,
          indices: [0],
          parameters: [{ hazard: "pedestrian", timeOfDay: "night", weather: "rain" }],
          reference: await readFile(join(OPTIMUM_FIXTURES, "inpaint/reference.png")),
          mask: await readFile(join(OPTIMUM_FIXTURES, "inpaint/mask.png")),
        });
        expect(prepared?.strength).toBe(1);
        reference = { image: prepared!.sample, mask: prepared!.mask, strength: prepared!.strength };
      }
      const latents = await sampleOptimumLatents({
        runtime,
        scheduler: scheduler(),
        steps: golden.steps,
        guidance: golden.guidance,
        prompts: golden.cases.map((c) => c.prompt),
        negativePrompts: golden.cases.map((c) => c.negativePrompt),
        noise: golden.cases.map((_, i) => ({ gaussian: (n: number) => (expect(n).toBe(perSample), noise.slice(i * perSample, (i + 1) * perSample)) })),
        reference,
      });
      expect(maxAbsDiff(latents, decodeFloats(golden.finalLatents))).toBeLessThan(TOLERANCE);
      const image = (await decodeLatents(runtime, latents, count)).map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
      expect(maxAbsDiff(image, decodeFloats(golden.image))).toBeLessThan(TOLERANCE);
    });
  });
}
