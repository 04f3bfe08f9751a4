// The Optimum pipeline's behaviour beyond the goldens: sample i is the same alone or in any batch (noise from
// (seed, i)), a 4-channel export inpaints by latent blending (outside the mask the result is the reference's
// latents exactly), image-to-image starts part-way down the schedule, and requests an export cannot serve are
// refused before any session runs.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createScheduler,
  encodeImages,
  GenerationInputError,
  generateSamples,
  openModelRuntime,
  resizeNearest,
  SampleNoise,
  sampleOptimumLatents,
  validateRequest,
  type OptimumRuntime,
} from "../../../src/diffusion/index.ts";
import { loadModelPackageAsync, type ModelPackage } from "../../../src/models/index.ts";
import { maxAbsDiff, OPTIMUM_FIXTURES } from "./golden.ts";
import { installExport, roadManifest } from "./install.ts";

let root: string;
let model: ModelPackage;
let inpaintModel: ModelPackage;
let runtime: OptimumRuntime;
const parameters = (i: number) => ({ hazard: ["pedestrian", "animal", "cone"][i % 3]!, timeOfDay: "night", weather: i % 2 ? "fog" : "rain" });
const request = { sampler: "ddim" as const, steps: 6, guidance: 7.5, seed: 21 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "rareforge-optimum-pipeline-"));
  model = await loadModelPackageAsync(await installExport("tiny-sd", root, roadManifest("tiny-sd")));
  inpaintModel = await loadModelPackageAsync(await installExport("tiny-sd-inpaint", root, roadManifest("tiny-sd-inpaint")));
  const opened = await openModelRuntime(model, { ep: "cpu" });
  if (opened.kind !== "optimum") throw new Error("expected an Optimum runtime");
  runtime = opened;
});
afterAll(async () => {
  await runtime?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe("Optimum pipeline", () => {
  it("makes sample i the same alone or inside a batch", async () => {
    const indices = [0, 1, 2, 3, 4, 5];
    const batch = await generateSamples({ model, runtime, ...request, indices, parameters: indices.map(parameters), batchSize: 6 });
    const alone = await generateSamples({ model, runtime, ...request, indices: [3], parameters: [parameters(3)], batchSize: 1 });
    expect(Array.from(alone[0]!.image.data)).toEqual(Array.from(batch[3]!.image.data));
    expect(alone[0]!.record.prompt).toEqual({ text: "dashcam photo, a pedestrian on the road at night, fog", negative: "blurry, low quality, cartoon, watermark" });
    // different samples differ
    expect(maxAbsDiff(batch[2]!.image.data, batch[3]!.image.data)).toBeGreaterThan(1e-3);
  });

  it("inpaints a 4-channel export by latent blending: outside the mask the reference's latents exactly, inside new ones", async () => {
    const prepared = validateRequest({
      model,
      ...request,
      indices: [0],
      parameters: [parameters(0)],
      reference: await readFile(join(OPTIMUM_FIXTURES, "inpaint/reference.png")),
      mask: await readFile(join(OPTIMUM_FIXTURES, "inpaint/mask.png")),
      strength: 1,
    })!;
    const scheduler = createScheduler("ddim", { schedule: model.optimum!.scheduler.schedule, prediction: "epsilon", spacing: "leading", stepsOffset: 1, setAlphaToOne: false });
    const latents = await sampleOptimumLatents({
      runtime,
      scheduler,
      steps: request.steps,
      guidance: request.guidance,
      prompts: ["dashcam photo, a deer"],
      negativePrompts: [""],
      noise: [new SampleNoise(request.seed, 0)],
      reference: { image: prepared.sample, mask: prepared.mask, strength: prepared.strength },
    });
    const referenceLatents = await encodeImages(runtime, prepared.sample, 1);
    const latentMask = resizeNearest(prepared.mask!, 64, 64, 8, 8).map((v) => (v >= 0.5 ? 1 : 0));
    let inside = 0;
    for (let k = 0; k < latents.length; k++) {
      if (latentMask[k % 64] === 1) inside = Math.max(inside, Math.abs(latents[k]! - referenceLatents[k]!));
      else expect(latents[k]).toBe(referenceLatents[k]);
    }
    expect(latentMask.some((m) => m === 1) && latentMask.some((m) => m === 0)).toBe(true);
    expect(inside).toBeGreaterThan(0.05);
  });

  it("starts image-to-image part-way down the schedule: lower strength stays nearer the reference's latents", async () => {
    const reference = await readFile(join(OPTIMUM_FIXTURES, "inpaint/reference.png"));
    const distance = async (strength: number) => {
      const prepared = validateRequest({ model, ...request, steps: 10, indices: [0], parameters: [parameters(0)], reference, strength })!;
      expect(prepared.mask).toBeNull();
      const scheduler = createScheduler("ddim", { schedule: model.optimum!.scheduler.schedule, prediction: "epsilon", spacing: "leading", stepsOffset: 1, setAlphaToOne: false });
      const latents = await sampleOptimumLatents({ runtime, scheduler, steps: 10, guidance: 7.5, prompts: ["a deer"], negativePrompts: [""], noise: [new SampleNoise(5, 0)], reference: { image: prepared.sample, mask: null, strength } });
      return maxAbsDiff(latents, await encodeImages(runtime, prepared.sample, 1));
    };
    const [low, full] = [await distance(0.1), await distance(1)];
    expect(low).toBeLessThan(full / 4);
  });

  it("refuses before any work: an inpainting export without reference and mask, a mask without a reference", () => {
    const base = { ...request, indices: [0], parameters: [parameters(0)] };
    expect(() => validateRequest({ model: inpaintModel, ...base })).toThrow(GenerationInputError);
    expect(() => validateRequest({ model: inpaintModel, ...base })).toThrow(/inpainting export \(9-channel UNet\): it needs a reference image and a mask/);
    expect(() => validateRequest({ model, ...base, mask: new Uint8Array([1]) })).toThrow(/a mask needs a reference image/);
    expect(() => validateRequest({ model, ...base, parameters: [{ ...parameters(0), hazard: "dragon" }] })).toThrow(/"hazard" is "dragon"; allowed: pedestrian/);
  });
});
