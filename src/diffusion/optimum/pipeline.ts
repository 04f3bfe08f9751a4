// The Stable-Diffusion pipeline over an Optimum export, as diffusers' OnnxStableDiffusion(Inpaint)Pipeline:
// prompts -> CLIP token ids -> text encoder, [negative x B, prompt x B] in one batch for classifier-free guidance;
// latents from the shared denoising loop; latents / scaling factor -> VAE decoder. Image-to-image encodes the
// reference with the VAE encoder (mean x scaling factor); inpainting feeds a 9-channel UNet the mask and the
// masked image's latents, or blends latents every step for a 4-channel one.
import { GenerationInputError } from "../errors.ts";
import type { TensorInput, TensorOutput } from "../../runtime/index.ts";
import { ModelPackageError } from "../../models/index.ts";
import { denoiseLoop, type NoiseSource } from "../loop.ts";
import type { Scheduler } from "../schedulers/index.ts";
import type { OptimumRuntime } from "./runtime.ts";

/** A reference image in the model's image space and size, and the inpainting mask beside it. */
export interface OptimumReference {
  /** [3, H, W] in [-1, 1] at the model's image size. */
  image: Float32Array;
  /** grey / 255 at the model's image size [H, W] (1 = repaint), or null for image-to-image. */
  mask: Float32Array | null;
  strength: number;
}

export interface OptimumBatchOptions {
  runtime: OptimumRuntime;
  scheduler: Scheduler;
  steps: number;
  guidance: number;
  /** One prompt and one negative prompt per sample. */
  prompts: readonly string[];
  negativePrompts: readonly string[];
  noise: readonly NoiseSource[];
  reference?: OptimumReference | null;
  onStep?: (step: number, steps: number) => void;
}

/** diffusers guides only above 1 (do_classifier_free_guidance = guidance_scale > 1). */
export const guidedAt = (guidance: number) => guidance > 1;

function output(runtime: OptimumRuntime, outputs: Record<string, TensorOutput>, name: string, expected: number, part: string): Float32Array {
  const tensor = outputs[name];
  if (!tensor) throw new ModelPackageError("incompatible-parts", `${part} returned no ${name}`, runtime.model.dir);
  if (tensor.data.length !== expected) throw new ModelPackageError("incompatible-parts", `${part} ${name} has ${tensor.data.length} values; ${expected} expected`, runtime.model.dir);
  return tensor.data;
}

/** Text -> hidden states [rows, S, D], one row per text. */
export async function encodeTexts(runtime: OptimumRuntime, texts: readonly string[]): Promise<{ states: Float32Array; sequenceLength: number }> {
  const ids = texts.map((text) => runtime.tokenizer.tokenize(text));
  const sequenceLength = ids[0]?.length ?? 0;
  const { input, inputType, output: name, width } = runtime.layout.text;
  const flat = new Int32Array(texts.length * sequenceLength);
  ids.forEach((row, i) => flat.set(row, i * sequenceLength));
  const feed: TensorInput =
    inputType === "int64" ? { type: "int64", data: BigInt64Array.from(flat, (v) => BigInt(v)), dims: [texts.length, sequenceLength] } : { type: "int32", data: flat, dims: [texts.length, sequenceLength] };
  const outputs = await runtime.textEncoder.run({ [input]: feed });
  return { states: output(runtime, outputs, name, texts.length * sequenceLength * width, "text_encoder"), sequenceLength };
}

/** Images [count, 3, H, W] in [-1, 1] -> latents [count, C, h, w] (the encoder's mean, x scaling factor). */
export async function encodeImages(runtime: OptimumRuntime, images: Float32Array, count: number): Promise<Float32Array> {
  const encoder = runtime.layout.encoder;
  if (!encoder || !runtime.vaeEncoder) throw new GenerationInputError("unsupported", `model "${runtime.model.manifest.name}" has no vae_encoder/model.onnx: image-to-image and inpainting need it`);
  const { width, height } = runtime.model.manifest.image;
  const c = runtime.export.latentChannels;
  const plane = (height / 8) * (width / 8);
  const outputs = await runtime.vaeEncoder.run({ [encoder.input]: { type: "float32", data: images, dims: [count, 3, height, width] } });
  const channels = encoder.moments ? 2 * c : c;
  const moments = output(runtime, outputs, encoder.output, count * channels * plane, "vae_encoder");
  const latents = new Float32Array(count * c * plane);
  const scale = runtime.export.vaeScalingFactor;
  // latent_parameters = [mean (C), log-variance (C)] per sample: the mean is the latent (deterministic)
  for (let b = 0; b < count; b++) for (let k = 0; k < c * plane; k++) latents[b * c * plane + k] = (moments[b * channels * plane + k] ?? 0) * scale;
  return latents;
}

/** Latents [count, C, h, w] -> images [count, 3, H, W] (latents / scaling factor into the decoder). */
export async function decodeLatents(runtime: OptimumRuntime, latents: Float32Array, count: number): Promise<Float32Array> {
  const { width, height } = runtime.model.manifest.image;
  const scale = runtime.export.vaeScalingFactor;
  const dims = [count, runtime.export.latentChannels, height / 8, width / 8];
  const outputs = await runtime.vaeDecoder.run({ [runtime.layout.decoder.input]: { type: "float32", data: latents.map((v) => v / scale), dims } });
  return output(runtime, outputs, runtime.layout.decoder.output, count * 3 * height * width, "vae_decoder");
}

/** Nearest-neighbour resize of a one-channel plane as PIL's NEAREST (diffusers' mask resize): source pixel floor((i + 0.5) x in / out). */
export function resizeNearest(plane: Float32Array, width: number, height: number, toWidth: number, toHeight: number): Float32Array {
  const out = new Float32Array(toWidth * toHeight);
  const source = (i: number, from: number, to: number) => Math.min(Math.floor(((i + 0.5) * from) / to), from - 1);
  for (let y = 0; y < toHeight; y++) {
    const sy = source(y, height, toHeight);
    for (let x = 0; x < toWidth; x++) out[y * toWidth + x] = plane[sy * width + source(x, width, toWidth)] ?? 0;
  }
  return out;
}

const binarise = (plane: Float32Array) => plane.map((v) => (v >= 0.5 ? 1 : 0));

/** The UNet's timestep feed: a scalar or one per row, float32 or int64, as the session declares. */
function timestepFeed(runtime: OptimumRuntime, t: number, rows: number): TensorInput {
  const { timestepType, timestepRank } = runtime.layout.unet;
  const count = timestepRank === 0 ? 1 : rows;
  const dims = timestepRank === 0 ? [] : [rows];
  return timestepType === "int64" ? { type: "int64", data: new BigInt64Array(count).fill(BigInt(Math.round(t))), dims } : { type: "float32", data: new Float32Array(count).fill(t), dims };
}

/** The denoised latents of one batch [B, C, h, w]. */
export async function sampleOptimumLatents(options: OptimumBatchOptions): Promise<Float32Array> {
  const { runtime, guidance, noise, reference } = options;
  const count = noise.length;
  const { width, height } = runtime.model.manifest.image;
  const [lw, lh] = [width / 8, height / 8];
  const c = runtime.export.latentChannels;
  const n = c * lw * lh;
  const unet = runtime.layout.unet;
  // 1. text: [negative x B, prompt x B] with guidance, the prompts alone without
  const guided = guidedAt(guidance);
  const texts = guided ? [...options.negativePrompts, ...options.prompts] : [...options.prompts];
  const { states, sequenceLength } = await encodeTexts(runtime, texts);
  const rows = texts.length;
  // 2. the reference's latents; the mask on the latent grid (nearest, binarised at 0.5)
  let start: { sample: Float32Array; strength: number } | null = null;
  let latentMask: Float32Array | null = null;
  let extraChannels: Float32Array | null = null; // 9-channel UNet: mask (1) + masked-image latents (C), per sample
  if (reference) {
    if (reference.mask) latentMask = binarise(resizeNearest(reference.mask, width, height, lw, lh));
    if (unet.inpainting) {
      if (!reference.mask) throw new GenerationInputError("unsupported", `model "${runtime.model.manifest.name}" is an inpainting export (9-channel UNet): it needs a mask with the reference`);
      // masked image = image x (mask < 0.5), its latents x scaling factor
      const full = binarise(reference.mask);
      const plane = width * height;
      const masked = reference.image.map((v, i) => ((full[i % plane] ?? 0) < 0.5 ? v : 0));
      const maskedLatents = await encodeImages(runtime, masked, 1);
      extraChannels = new Float32Array((1 + c) * lw * lh);
      extraChannels.set(latentMask!, 0);
      extraChannels.set(maskedLatents, lw * lh);
      // diffusers' inpainting pipelines start from pure noise at strength 1, else from the noised image latents
      if (reference.strength < 1) start = { sample: await encodeImages(runtime, reference.image, 1), strength: reference.strength };
    } else {
      start = { sample: await encodeImages(runtime, reference.image, 1), strength: reference.strength };
    }
  } else if (unet.inpainting) {
    throw new GenerationInputError("unsupported", `model "${runtime.model.manifest.name}" is an inpainting export (9-channel UNet): give a reference image and a mask`);
  }
  const blendMask = latentMask && !unet.inpainting && start ? expandOverChannels(latentMask, c) : null;
  const inputChannels = unet.channels;
  const predict = async (modelInput: Float32Array, t: number): Promise<Float32Array> => {
    // 3. UNet input: the scaled latents (twice with guidance), with mask and masked latents for a 9-channel UNet
    const sample = new Float32Array(rows * inputChannels * lw * lh);
    for (let r = 0; r < rows; r++) {
      const b = r % count;
      sample.set(modelInput.subarray(b * n, (b + 1) * n), r * inputChannels * lw * lh);
      if (extraChannels) sample.set(extraChannels, r * inputChannels * lw * lh + n);
    }
    const outputs = await runtime.unet.run({
      [unet.sample]: { type: "float32", data: sample, dims: [rows, inputChannels, lh, lw] },
      [unet.timestep]: timestepFeed(runtime, t, rows),
      [unet.hidden]: { type: "float32", data: states, dims: [rows, sequenceLength, runtime.layout.text.width] },
    });
    const out = output(runtime, outputs, unet.output, rows * n, "unet");
    if (!guided) return out;
    // 4. classifier-free guidance: uncond + g (cond - uncond)
    const result = new Float32Array(count * n);
    for (let i = 0; i < count * n; i++) {
      const u = out[i] ?? 0;
      result[i] = u + guidance * ((out[count * n + i] ?? 0) - u);
    }
    return result;
  };
  return denoiseLoop({ scheduler: options.scheduler, steps: options.steps, sampleSize: n, noise, start, blendMask, predict, ...(options.onStep ? { onStep: options.onStep } : {}) });
}

function expandOverChannels(plane: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(plane.length * channels);
  for (let ch = 0; ch < channels; ch++) out.set(plane, ch * plane.length);
  return out;
}

/** One batch end to end: images [B, 3, H, W] in [-1, 1]-ish (the decoder's range). */
export async function sampleOptimumBatch(options: OptimumBatchOptions): Promise<Float32Array> {
  const latents = await sampleOptimumLatents(options);
  return decodeLatents(options.runtime, latents, options.noise.length);
}
