// The sampling pipeline as a specification: batch invariance, image-to-image, inpainting, records, and typed
// refusals of bad input before any work is done.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode as encodeJpeg } from "jpeg-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeSamplePng, generateSamples, GenerationInputError, openConditionRuntime, type GenerateSamplesRequest, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { toModelSpace, decodeImage, resizeBilinear } from "../../src/imaging/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { encodePng, readPngRecord } from "../../src/imaging/png.ts";
import { ConditionError, loadModelPackage, ModelPackageError, type ModelPackage } from "../../src/models/index.ts";
import { pngDeclaring } from "../imaging/helpers/forged-images.ts";

const tinyDir = fileURLToPath(new URL("../fixtures/tiny-model/", import.meta.url));
const latentDir = fileURLToPath(new URL("../fixtures/tiny-model/latent/", import.meta.url));
const hazard = (i: number) => ({ hazard: i % 2 ? "cone" : "pedestrian", hazardCx: 0.3 + 0.01 * i, hazardCy: 0.5, hazardW: 0.2, hazardH: 0.3, weather: "fog" });

let tiny: ModelPackage;
let runtime: ConditionRuntime;
beforeAll(async () => {
  tiny = loadModelPackage(tinyDir);
  runtime = await openConditionRuntime(tiny, { ep: "cpu" });
});
afterAll(async () => runtime.dispose());

function request(overrides: Partial<GenerateSamplesRequest> = {}): GenerateSamplesRequest {
  const indices = overrides.indices ?? [0];
  return {
    model: tiny,
    runtime,
    sampler: "euler-ancestral",
    steps: 8,
    guidance: 3,
    seed: 7,
    indices,
    parameters: indices.map(hazard),
    ...overrides,
  };
}

function rgbPng(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return encodePng({ width, height, channels: 3, depth: 8, data });
}

describe("batch invariance", () => {
  it("sample 5 is byte-identical alone and inside batches of 8 and 32 (CPU)", async () => {
    const png5 = async (indices: number[], batchSize: number) => {
      const samples = await generateSamples(request({ indices, batchSize }));
      const five = samples.find((s) => s.index === 5);
      if (!five) throw new Error("sample 5 missing");
      return Buffer.from(encodeSamplePng(five, tiny.manifest));
    };
    const alone = await png5([5], 1);
    const in8 = await png5([0, 1, 2, 3, 4, 5, 6, 7], 8);
    const in32 = await png5(Array.from({ length: 32 }, (_, i) => 31 - i), 32); // other position, other order
    expect(in8.equals(alone)).toBe(true);
    expect(in32.equals(alone)).toBe(true);
  });

  it("different indices and seeds give different noise", async () => {
    const [a, b] = await generateSamples(request({ indices: [0, 1], parameters: [hazard(0), hazard(0)] }));
    const [c] = await generateSamples(request({ indices: [0], parameters: [hazard(0)], seed: 8 }));
    expect(Buffer.from(a!.image.data.buffer).equals(Buffer.from(b!.image.data.buffer))).toBe(false);
    expect(Buffer.from(a!.image.data.buffer).equals(Buffer.from(c!.image.data.buffer))).toBe(false);
  });
});

describe("records and PNG output", () => {
  it("embeds the generation record in the PNG and labels follow the condition", async () => {
    const [sample] = await generateSamples(request({ indices: [3], sampler: "dpmpp-2m" }));
    const png = encodeSamplePng(sample!, tiny.manifest);
    const record = readPngRecord(png);
    expect(record).toMatchObject({
      model: { name: "tiny-model", version: "0.0.1", fileHashes: tiny.fileHashes },
      sampler: "dpmpp-2m",
      steps: 8,
      guidance: 3,
      seed: 7,
      index: 3,
      parameters: hazard(3),
      executionProvider: "cpu",
    });
    expect(record?.versions).toHaveProperty("onnxruntime");
    expect(sample!.labels.boxes).toHaveLength(1);
    expect(sample!.labels.boxes[0]).toMatchObject({ class: "cone", width: 0.2 * 16, height: 0.3 * 16 });
  });

  it("a latent model decodes to a 16-bit grayscale PNG with a lesion mask label", async () => {
    const latent = loadModelPackage(latentDir);
    const [sample] = await generateSamples({
      model: latent, sampler: "dpmpp-2m", steps: 6, guidance: 2, seed: 1, indices: [0],
      parameters: [{ pathology: "tumour", lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.25 }],
    });
    expect(sample!.image).toMatchObject({ channels: 1, width: 16, height: 16 });
    const png = encodeSamplePng(sample!, latent.manifest);
    expect(png[24]).toBe(16); // IHDR bit depth
    expect(png[25]).toBe(0); // colour type: grayscale
    const mask = sample!.labels.masks[0]!;
    // radius 0.25 of 16 px = 4 px: about pi * 4^2 = 50 pixels inside
    const area = mask.data.reduce((a, b) => a + b, 0);
    expect(area).toBeGreaterThan(0.85 * Math.PI * 16);
    expect(area).toBeLessThan(1.15 * Math.PI * 16);
  });
});

describe("image-to-image and inpainting", () => {
  // a 40x30 reference (not the model's 16x16): a horizontal gradient
  const reference = rgbPng(40, 30, (x) => [Math.round((x / 39) * 255), 128, 255 - Math.round((x / 39) * 255)]);

  it("low strength stays close to the reference, full strength does not (PNG and JPEG references)", async () => {
    const jpeg = encodeJpeg({ width: 40, height: 30, data: Buffer.from(Array.from({ length: 40 * 30 * 4 }, (_, i) => (i % 4 === 0 ? Math.round(((i / 4) % 40) / 39 * 255) : i % 4 === 1 ? 128 : i % 4 === 2 ? 255 - Math.round(((i / 4) % 40) / 39 * 255) : 255))) }, 95).data;
    const target = (await generateSamples(request({ reference, strength: 1, steps: 10, sampler: "ddim" })))[0]!;
    for (const bytes of [reference, new Uint8Array(jpeg)]) {
      const low = (await generateSamples(request({ reference: bytes, strength: 0.2, steps: 10, sampler: "ddim" })))[0]!;
      const refSpace = resizeBilinear(decodeImage(bytes), 16, 16);
      const expected = toModelSpace(refSpace, 3, [-1, 1]);
      const meanAbs = (a: Float32Array) => a.reduce((acc, v, i) => acc + Math.abs(v - (expected[i] ?? 0)), 0) / a.length;
      expect(meanAbs(low.image.data)).toBeLessThan(0.25);
      expect(meanAbs(target.image.data)).toBeGreaterThan(meanAbs(low.image.data) * 2);
      expect(low.record).toHaveProperty("imageToImage.strength", 0.2);
    }
  });

  it("inpainting regenerates inside the mask and keeps the reference outside", async () => {
    const mask = rgbPng(40, 30, (x) => (x < 20 ? [255, 255, 255] : [0, 0, 0])); // left half regenerated
    const [sample] = await generateSamples(request({ reference, mask, strength: 1, steps: 10, sampler: "dpmpp-2m" }));
    const expected = toModelSpace(resizeBilinear(decodeImage(reference), 16, 16), 3, [-1, 1]);
    let keptError = 0;
    let changed = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const i = c * 256 + y * 16 + x;
          const diff = Math.abs((sample!.image.data[i] ?? 0) - (expected[i] ?? 0));
          if (x >= 8) keptError = Math.max(keptError, diff);
          else changed += diff;
        }
      }
    }
    expect(keptError).toBe(0);
    expect(changed / (3 * 16 * 8)).toBeGreaterThan(0.05);
  });
});

describe("bad input is refused with a typed error before any work", () => {
  // a runtime whose sessions fail the test if used: every refusal must come first
  let calls = 0;
  const idle = (): ConditionRuntime => ({
    kind: "condition",
    model: tiny,
    provider: "cpu",
    denoiser: { ...runtime.denoiser, run: async () => { calls++; throw new Error("denoiser ran"); } },
    decoder: null,
    meters: new Map(),
    onnxMillis: () => 0,
    dispose: async () => {},
  });
  const refused = async (overrides: Partial<GenerateSamplesRequest>, error: new (...a: never[]) => Error, pattern: RegExp) => {
    await expect(generateSamples(request({ runtime: idle(), ...overrides }))).rejects.toThrow(pattern);
    await expect(generateSamples(request({ runtime: idle(), ...overrides }))).rejects.toBeInstanceOf(error);
    expect(calls).toBe(0);
  };

  it("steps <= 0 or > 1000", async () => {
    await refused({ steps: 0 }, ValidationError, /steps must be an integer in \[1, 1000\]/);
    await refused({ steps: 1001 }, ValidationError, /steps/);
  });
  it("guidance outside [0, 30], the bounds every entry point uses", async () => {
    await refused({ guidance: -0.5 }, ValidationError, /guidance must be in \[0, 30\], got -0.5/);
    await refused({ guidance: 31 }, ValidationError, /guidance must be in \[0, 30\], got 31/);
  });
  it("parameters that do not fit the condition layout", async () => {
    await refused({ parameters: [{ ...hazard(0), hazard: "tractor" }] }, ConditionError, /allowed: none, pedestrian, cone/);
    await refused({ parameters: [{ ...hazard(0), hazardCx: 1.5 }] }, ConditionError, /outside \[0, 1\]/);
    await refused({ parameters: [{ ...hazard(0), speed: 3 }] }, ConditionError, /unknown parameter "speed"/);
  });
  it("a reference that is not an image", async () => {
    await refused({ reference: new TextEncoder().encode("hello, not a picture") }, GenerationInputError, /not a PNG or JPEG/);
  });
  it("a reference or mask whose PNG header declares 20000x20000 (reference-not-image, from the header)", async () => {
    const huge = pngDeclaring(20000, 20000);
    await refused({ reference: huge }, GenerationInputError, /^reference image is 20000x20000 \(400000000 pixels\); the limit is 40000000 pixels/);
    await refused({ reference: rgbPng(16, 16, () => [1, 2, 3]), mask: huge }, GenerationInputError, /^mask is 20000x20000 \(400000000 pixels\)/);
    const error = await generateSamples(request({ runtime: idle(), reference: huge })).catch((e: unknown) => e);
    expect((error as GenerationInputError).code).toBe("reference-not-image");
    await refused({ reference: rgbPng(40, 30, () => [1, 2, 3]), maxImagePixels: 1000 }, GenerationInputError, /40x30 \(1200 pixels\); the limit is 1000 pixels/);
  });
  it("a mask of the wrong size", async () => {
    const reference = rgbPng(40, 30, () => [10, 20, 30]);
    await refused({ reference, mask: rgbPng(13, 7, () => [255, 255, 255]) }, GenerationInputError, /mask is 13x7; it must match the reference \(40x30\) or the model image \(16x16\)/);
  });
  it("image-to-image on a latent model without an encoder", async () => {
    const latent = loadModelPackage(latentDir);
    const reference = rgbPng(8, 8, () => [1, 2, 3]);
    await expect(
      generateSamples({ model: latent, sampler: "ddim", steps: 4, guidance: 1, seed: 0, indices: [0], parameters: [{ pathology: "none", lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.1 }], reference }),
    ).rejects.toThrow(/latent model without an encoder/);
  });
  it("a strength that leaves no step, and a mask without a reference", async () => {
    const reference = rgbPng(8, 8, () => [1, 2, 3]);
    await refused({ reference, strength: 0.05, steps: 10 }, GenerationInputError, /leaves no denoising step/);
    await refused({ mask: rgbPng(16, 16, () => [255, 255, 255]) }, GenerationInputError, /a mask needs a reference image/);
  });
  it("an unknown sampler, listing the allowed ones", async () => {
    await refused({ sampler: "plms" as never }, Error, /allowed: ddpm, ddim, dpmpp-2m, euler, euler-ancestral/);
  });
  it("a tampered or missing model file", () => {
    const copy = mkdtempSync(join(tmpdir(), "rareforge-tampered-"));
    cpSync(tinyDir, copy, { recursive: true });
    const onnx = readFileSync(join(copy, "denoiser.onnx"));
    onnx[onnx.length - 10] = (onnx[onnx.length - 10] ?? 0) ^ 0xff;
    writeFileSync(join(copy, "denoiser.onnx"), onnx);
    expect(() => loadModelPackage(copy)).toThrow(/"denoiser.onnx" in .* has sha256 [0-9a-f]{64}, the manifest says/);
    expect(() => loadModelPackage(copy)).toThrow(ModelPackageError);
    const missing = mkdtempSync(join(tmpdir(), "rareforge-missing-"));
    cpSync(join(tinyDir, "model.json"), join(missing, "model.json"));
    expect(() => loadModelPackage(missing)).toThrow(/declares "denoiser.onnx" but it is missing/);
  });
});

describe("a denoiser with guidance distilled into it (denoiser.distilledGuidance)", () => {
  // The tiny model's file under a manifest that declares guidance 3 distilled into it: sampling at guidance 3 must
  // then be the conditional pass alone, i.e. exactly what the plain tiny model gives at guidance 1.
  let distilled: ModelPackage;
  let distilledRuntime: ConditionRuntime;
  beforeAll(async () => {
    const copy = mkdtempSync(join(tmpdir(), "rareforge-distilled-"));
    cpSync(tinyDir, copy, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(copy, "model.json"), "utf8")) as { name: string; denoiser: Record<string, unknown> };
    manifest.name = "tiny-model-distilled";
    manifest.denoiser.distilledGuidance = 3;
    writeFileSync(join(copy, "model.json"), JSON.stringify(manifest));
    distilled = loadModelPackage(copy);
    distilledRuntime = await openConditionRuntime(distilled, { ep: "cpu" });
  });
  afterAll(async () => distilledRuntime?.dispose());

  it("runs one conditional pass per step at its distilled scale: the plain model's guidance-1 images, not its guidance-3 ones", async () => {
    const calls: number[] = [];
    const counting = { ...distilledRuntime, denoiser: { ...distilledRuntime.denoiser, run: (feeds: Parameters<typeof distilledRuntime.denoiser.run>[0]) => {
      calls.push(Object.values(feeds)[0]!.dims[0] as number);
      return distilledRuntime.denoiser.run(feeds);
    } } } as ConditionRuntime;
    const indices = [0, 1, 2];
    const [own, conditional, guided] = await Promise.all([
      generateSamples(request({ model: distilled, runtime: counting, sampler: "ddim", guidance: 3, indices, parameters: indices.map(hazard) })),
      generateSamples(request({ sampler: "ddim", guidance: 1, indices, parameters: indices.map(hazard) })),
      generateSamples(request({ sampler: "ddim", guidance: 3, indices, parameters: indices.map(hazard) })),
    ]);
    expect(calls).toEqual(new Array(8).fill(3)); // 8 steps, 3 rows each: no unconditional rows
    own.forEach((sample, i) => {
      expect(Buffer.from(sample.image.data.buffer).equals(Buffer.from(conditional[i]!.image.data.buffer))).toBe(true);
      expect(Buffer.from(sample.image.data.buffer).equals(Buffer.from(guided[i]!.image.data.buffer))).toBe(false);
      expect(sample.record.model.name).toBe("tiny-model-distilled");
      expect(sample.record.guidance).toBe(3);
    });
  });

  it("refuses any other guidance with a ValidationError naming guidance and the distilled scale", async () => {
    await expect(generateSamples(request({ model: distilled, runtime: distilledRuntime, guidance: 1 }))).rejects.toThrow(ValidationError);
    await expect(generateSamples(request({ model: distilled, runtime: distilledRuntime, guidance: 5 }))).rejects.toThrow(
      /guidance: model "tiny-model-distilled" has guidance 3 distilled into its denoiser .*guidance must be 3 or left out, got 5/,
    );
  });
});
