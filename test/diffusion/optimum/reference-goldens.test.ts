// The PyTorch reference pipelines' goldens (training/optimum/reference_pipeline.py) are reachable from the
// ONNX files alone: replaying each golden through the tiny exports' ONNX parts with the stored noise, the
// tokenizer under test and DDIM (eta 0, diffusers' options) reproduces the text embeddings to 1e-4 and every
// step's latents and the decoded image to 1e-3. This checks the fixtures and the written-down maths that any
// runtime must follow; the runtime's own pipeline is checked against the same goldens in its tests.
import { join } from "node:path";
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { decode as decodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadClipTokenizer } from "../../../src/diffusion/optimum/tokenizer.ts";
import { decodeFloats, decodeTensor, maxAbsDiff, OPTIMUM_FIXTURES, readJsonFixture, type StoredTensor } from "./golden.ts";

interface PipelineGolden {
  readonly export: "tiny-sd" | "tiny-sd-inpaint";
  readonly scheduler: { config: { num_train_timesteps: number; beta_start: number; beta_end: number; steps_offset: number; set_alpha_to_one: boolean } };
  readonly steps: number;
  readonly guidance: number;
  readonly scalingFactor: number;
  readonly cases: { prompt: string; negativePrompt: string }[];
  readonly timesteps: number[];
  readonly inputIds: StoredTensor;
  readonly negativeInputIds: StoredTensor;
  readonly promptEmbeds: StoredTensor;
  readonly noise: StoredTensor;
  readonly latentsPerStep: StoredTensor[];
  readonly finalLatents: StoredTensor;
  readonly image: StoredTensor;
  readonly referenceImage?: { dims: number[]; base64: string };
  readonly mask?: { dims: number[]; base64: string };
  readonly maskedImage?: StoredTensor;
  readonly maskLatent?: StoredTensor;
  readonly maskedImageLatents?: StoredTensor;
}

const bytesOf = (stored: { base64: string }) => new Uint8Array(Buffer.from(stored.base64, "base64"));

/** diffusers' DDIMScheduler (eta 0): scaled_linear betas, leading spacing + steps_offset, set_alpha_to_one; add_noise. */
function ddim(config: PipelineGolden["scheduler"]["config"], steps: number) {
  const alphasCumprod: number[] = [];
  let product = 1;
  for (let i = 0; i < config.num_train_timesteps; i++) {
    const sqrtBeta = Math.sqrt(config.beta_start) + ((Math.sqrt(config.beta_end) - Math.sqrt(config.beta_start)) * i) / (config.num_train_timesteps - 1);
    product *= 1 - sqrtBeta * sqrtBeta;
    alphasCumprod.push(product);
  }
  const ratio = Math.floor(config.num_train_timesteps / steps);
  const timesteps = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + config.steps_offset);
  const finalAlpha = config.set_alpha_to_one ? 1 : alphasCumprod[0]!;
  const step = (eps: Float32Array, t: number, sample: Float32Array) => {
    const aT = alphasCumprod[t]!;
    const aPrev = t - ratio >= 0 ? alphasCumprod[t - ratio]! : finalAlpha;
    return sample.map((x, i) => {
      const x0 = (x - Math.sqrt(1 - aT) * eps[i]!) / Math.sqrt(aT);
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps[i]!;
    });
  };
  /** q(x_t | x_0), DDPM eq. (4). */
  const addNoise = (x0: Float32Array, noise: Float32Array, t: number) => x0.map((x, i) => Math.sqrt(alphasCumprod[t]!) * x + Math.sqrt(1 - alphasCumprod[t]!) * noise[i]!);
  return { timesteps, step, addNoise };
}

for (const file of ["golden-txt2img.json", "golden-inpaint.json"]) {
  describe(file, () => {
    const golden = readJsonFixture<PipelineGolden>(file);
    const dir = join(OPTIMUM_FIXTURES, golden.export);
    const sessions = exportSessions(dir);

    it("stores the ids the TypeScript tokenizer gives its prompts and negative prompts", async () => {
      const tokenizer = await loadClipTokenizer(join(dir, "tokenizer"));
      const ids = (texts: string[]) => texts.flatMap((t) => [...tokenizer.tokenize(t)].map(BigInt));
      expect([...decodeTensor(golden.inputIds).data]).toEqual(ids(golden.cases.map((c) => c.prompt)));
      expect([...decodeTensor(golden.negativeInputIds).data]).toEqual(ids(golden.cases.map((c) => c.negativePrompt)));
    });

    if (golden.referenceImage) {
      it("stores the reference frame and mask also as PNGs, and a masked image and latents the ONNX VAE encoder reproduces", async () => {
        const png = decodePng(readFileSync(join(OPTIMUM_FIXTURES, "inpaint/reference.png")));
        expect([png.height, png.width, png.channels]).toEqual(golden.referenceImage!.dims);
        expect(Buffer.from(png.data as Uint8Array).equals(Buffer.from(bytesOf(golden.referenceImage!)))).toBe(true);
        const maskPng = decodePng(readFileSync(join(OPTIMUM_FIXTURES, "inpaint/mask.png")));
        expect(Buffer.from(maskPng.data as Uint8Array).equals(Buffer.from(bytesOf(golden.mask!)))).toBe(true);
        // masked image = (pixel / 127.5 - 1) * (mask < 127.5), channels first
        const pixels = bytesOf(golden.referenceImage!);
        const mask = bytesOf(golden.mask!);
        const masked = new Float32Array(3 * 64 * 64);
        for (let c = 0; c < 3; c++) for (let p = 0; p < 64 * 64; p++) masked[c * 4096 + p] = mask[p]! < 127.5 ? pixels[p * 3 + c]! / 127.5 - 1 : 0;
        expect(maxAbsDiff(masked, decodeFloats(golden.maskedImage!))).toBeLessThanOrEqual(1e-6);
        // latent mask: PIL nearest (source pixel 8i + 4), binarised at 0.5
        const latentMask = Array.from({ length: 64 }, (_, k) => (mask[(Math.floor(k / 8) * 8 + 4) * 64 + (k % 8) * 8 + 4]! / 255 >= 0.5 ? 1 : 0));
        expect([...decodeFloats(golden.maskLatent!)]).toEqual(latentMask);
        const encoded = await sessions.vae_encoder!.run({ sample: new ort.Tensor("float32", masked, [1, 3, 64, 64]) });
        const mean = (encoded.latent_parameters!.data as Float32Array).slice(0, 4 * 64).map((v) => v * golden.scalingFactor);
        expect(maxAbsDiff(mean, decodeFloats(golden.maskedImageLatents!))).toBeLessThanOrEqual(1e-4);
      });
    }

    it("replayed through the ONNX parts: embeddings to 1e-4, every step's latents and the image to 1e-3", async () => {
      const batch = golden.cases.length;
      const ids = [decodeTensor(golden.negativeInputIds), decodeTensor(golden.inputIds)];
      const allIds = new BigInt64Array([...(ids[0]!.data as BigInt64Array), ...(ids[1]!.data as BigInt64Array)]);
      const text = await sessions.text_encoder!.run({ input_ids: new ort.Tensor("int64", allIds, [2 * batch, 77]) });
      const embeds = text.last_hidden_state!;
      expect(maxAbsDiff(embeds.data as Float32Array, decodeFloats(golden.promptEmbeds))).toBeLessThanOrEqual(1e-4);

      const scheduler = ddim(golden.scheduler.config, golden.steps);
      expect(scheduler.timesteps).toEqual(golden.timesteps);
      const timestepMeta = sessions.unet!.inputMetadata.find((m) => m.name === "timestep")!;
      const timestepType = timestepMeta.isTensor ? timestepMeta.type : "float32";
      const timestepRank = timestepMeta.isTensor ? timestepMeta.shape.length : 0;
      const sampleMeta = sessions.unet!.inputMetadata.find((m) => m.name === "sample")!;
      const sampleChannels = sampleMeta.isTensor ? Number(sampleMeta.shape[1]) : 0;
      const perSample = 4 * 64;
      let latents = decodeFloats(golden.noise).slice();
      for (const [k, t] of scheduler.timesteps.entries()) {
        // UNet batch: [latents; latents] (+ mask and masked-image latents for the 9-channel UNet)
        const input = new Float32Array(2 * batch * sampleChannels * 64);
        for (let b = 0; b < 2 * batch; b++) {
          const base = b * sampleChannels * 64;
          input.set(latents.subarray((b % batch) * perSample, (b % batch + 1) * perSample), base);
          if (sampleChannels === 9) {
            input.set(decodeFloats(golden.maskLatent!), base + perSample);
            input.set(decodeFloats(golden.maskedImageLatents!), base + perSample + 64);
          }
        }
        const timestep =
          timestepType === "int64" ? new ort.Tensor("int64", new BigInt64Array([BigInt(t)]), timestepRank === 0 ? [] : [1]) : new ort.Tensor("float32", new Float32Array([t]), timestepRank === 0 ? [] : [1]);
        const out = (await sessions.unet!.run({ sample: new ort.Tensor("float32", input, [2 * batch, sampleChannels, 8, 8]), timestep, encoder_hidden_states: embeds })).out_sample!.data as Float32Array;
        const half = batch * perSample;
        const eps = out.subarray(half).map((cond, i) => out[i]! + golden.guidance * (cond - out[i]!));
        latents = scheduler.step(eps, t, latents);
        expect(maxAbsDiff(latents, decodeFloats(golden.latentsPerStep[k]!)), `latents after step ${k}`).toBeLessThanOrEqual(1e-3);
      }
      expect(maxAbsDiff(latents, decodeFloats(golden.finalLatents))).toBeLessThanOrEqual(1e-3);
      const decoded = await sessions.vae_decoder!.run({ latent_sample: new ort.Tensor("float32", latents.map((v) => v / golden.scalingFactor), [batch, 4, 8, 8]) });
      const image = (decoded.sample!.data as Float32Array).map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
      expect(maxAbsDiff(image, decodeFloats(golden.image))).toBeLessThanOrEqual(1e-3);
    });
  });
}

interface ImageToImageGolden {
  readonly export: "tiny-sd";
  readonly scheduler: PipelineGolden["scheduler"];
  readonly steps: number;
  readonly strength: number;
  readonly guidance: number;
  readonly scalingFactor: number;
  readonly cases: { prompt: string; negativePrompt: string }[];
  readonly referenceImage: { dims: number[]; base64: string };
  readonly maskLatent: StoredTensor;
  readonly startLatents: StoredTensor;
  readonly noise: StoredTensor;
  readonly runs: Record<"imageToImage" | "latentBlendInpaint", { timesteps: number[]; latentsPerStep: StoredTensor[]; finalLatents: StoredTensor; image: StoredTensor }>;
}

describe("golden-img2img.json", () => {
  const golden = readJsonFixture<ImageToImageGolden>("golden-img2img.json");
  const dir = join(OPTIMUM_FIXTURES, golden.export);
  const sessions = exportSessions(dir);

  it("start latents: the ONNX VAE encoder's mean of the reference frame times 0.18215, to 1e-4", async () => {
    const pixels = bytesOf(golden.referenceImage);
    const image = new Float32Array(3 * 4096);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 4096; p++) image[c * 4096 + p] = pixels[p * 3 + c]! / 127.5 - 1;
    const encoded = await sessions.vae_encoder!.run({ sample: new ort.Tensor("float32", image, [1, 3, 64, 64]) });
    const mean = (encoded.latent_parameters!.data as Float32Array).slice(0, 256).map((v) => v * golden.scalingFactor);
    expect(maxAbsDiff(mean, decodeFloats(golden.startLatents))).toBeLessThanOrEqual(1e-4);
  });

  for (const name of ["imageToImage", "latentBlendInpaint"] as const) {
    it(`${name} replayed through the ONNX parts: every step's latents and the image to 1e-3`, async () => {
      const run = golden.runs[name];
      const batch = golden.cases.length;
      const tokenizer = await loadClipTokenizer(join(dir, "tokenizer"));
      const texts = [...golden.cases.map((c) => c.negativePrompt), ...golden.cases.map((c) => c.prompt)];
      const ids = new BigInt64Array(texts.flatMap((t) => [...tokenizer.tokenize(t)].map(BigInt)));
      const embeds = (await sessions.text_encoder!.run({ input_ids: new ort.Tensor("int64", ids, [2 * batch, 77]) })).last_hidden_state!;
      const scheduler = ddim(golden.scheduler.config, golden.steps);
      const timesteps = scheduler.timesteps.slice(golden.steps - Math.floor(golden.steps * golden.strength));
      expect(timesteps).toEqual(run.timesteps);
      const noise = decodeFloats(golden.noise);
      const start = new Float32Array(batch * 256);
      for (let b = 0; b < batch; b++) start.set(decodeFloats(golden.startLatents), b * 256);
      const addNoise = (t: number) => scheduler.addNoise(start, noise, t);
      const mask = decodeFloats(golden.maskLatent);
      let latents = addNoise(timesteps[0]!);
      for (const [k, t] of timesteps.entries()) {
        const input = new Float32Array([...latents, ...latents]);
        const out = (await sessions.unet!.run({ sample: new ort.Tensor("float32", input, [2 * batch, 4, 8, 8]), timestep: new ort.Tensor("float32", new Float32Array([t]), []), encoder_hidden_states: embeds })).out_sample!.data as Float32Array;
        const eps = out.subarray(batch * 256).map((cond, i) => out[i]! + golden.guidance * (cond - out[i]!));
        latents = scheduler.step(eps, t, latents);
        if (name === "latentBlendInpaint") {
          const known = k + 1 < timesteps.length ? addNoise(timesteps[k + 1]!) : start;
          latents = latents.map((x, i) => mask[i % 64]! * x + (1 - mask[i % 64]!) * known[i]!);
        }
        expect(maxAbsDiff(latents, decodeFloats(run.latentsPerStep[k]!)), `latents after step ${k}`).toBeLessThanOrEqual(1e-3);
      }
      expect(maxAbsDiff(latents, decodeFloats(run.finalLatents))).toBeLessThanOrEqual(1e-3);
      const decoded = await sessions.vae_decoder!.run({ latent_sample: new ort.Tensor("float32", latents.map((v) => v / golden.scalingFactor), [batch, 4, 8, 8]) });
      const image = (decoded.sample!.data as Float32Array).map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
      expect(maxAbsDiff(image, decodeFloats(run.image))).toBeLessThanOrEqual(1e-3);
    });
  }
});

/** Sessions on every part of an export, opened before the describe block's tests and released after them. */
function exportSessions(dir: string): Record<string, ort.InferenceSession> {
  const sessions: Record<string, ort.InferenceSession> = {};
  beforeAll(async () => {
    for (const part of ["text_encoder", "unet", "vae_encoder", "vae_decoder"]) sessions[part] = await ort.InferenceSession.create(join(dir, part, "model.onnx"));
  });
  afterAll(async () => {
    for (const session of Object.values(sessions)) await session.release();
  });
  return sessions;
}
