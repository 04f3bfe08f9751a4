// The sampling pipeline: classifier-free guidance with the unconditional and conditional passes in one
// batch, any batch size, latent decoding, image-to-image (strength) and inpainting (mask blended every step).
// Sample i draws all its noise from SampleNoise(seed, i), so it is the same alone or in any batch.
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  assertParametersFit,
  deriveLabels,
  calibratedParameters,
  encodeCondition,
  sampleShape,
  renderPrompt,
  unconditionalVector,
  ModelPackageError,
  type GroundTruth,
  type ModelPackage,
  type ScenarioParameters,
} from "../models/index.ts";
import { decodeImage, ImageDecodeError, maskToSampleGrid, normaliseStoredRange, resizeBilinear, toModelSpace, type DecodedImage, type ImageTensor } from "../imaging/index.ts";
import { buildGenerationRecord, type GenerationRecord } from "../provenance/index.ts";
import { GenerationInputError } from "./errors.ts";
import { ValidationError } from "../errors.ts";
import { createSession, onnxRuntimeVersion, type ExecutionProviderName, type OnnxSession, type ResolvedExecutionProvider, type TensorInput } from "../runtime/index.ts";
import { SampleNoise } from "./noise.ts";
import { createScheduler, type SamplerName, type Scheduler } from "./schedulers/index.ts";
import { DEFAULT_BATCH_SIZE, distilledGuidanceIssue, resolveSamplingSettings } from "./settings.ts";
import { openOptimumRuntime, type OptimumRuntime } from "./optimum/runtime.ts";
import { resizeNearest, sampleOptimumBatch } from "./optimum/pipeline.ts";
import { denoiseLoop, type NoiseSource } from "./loop.ts";
import { createFeedback, heldRecord } from "./feedback.ts";

export { denoiseLoop, type DenoiseLoopOptions, type NoiseSource } from "./loop.ts";

/** A condition-vector package's ONNX sessions on one execution provider, reused across batches. */
export interface ConditionRuntime {
  readonly kind: "condition";
  readonly model: ModelPackage;
  readonly provider: ResolvedExecutionProvider;
  readonly denoiser: OnnxSession;
  readonly decoder: OnnxSession | null;
  /** Per scalar field with feedback (docs/model-package.md), its meter's session. */
  readonly meters: ReadonlyMap<string, OnnxSession>;
  /** Milliseconds spent inside onnxruntime by its sessions. */
  onnxMillis(): number;
  dispose(): Promise<void>;
}

/** Either package kind's sessions, behind one interface: generateSamples runs both. */
export type ModelRuntime = ConditionRuntime | OptimumRuntime;

export interface RuntimeOptions {
  ep?: ExecutionProviderName;
  intraOpThreads?: number;
  log?: (message: string) => void;
}

const sessionSettings = (options: RuntimeOptions) => ({
  ep: options.ep ?? "cpu",
  ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
  ...(options.log ? { log: options.log } : {}),
});

/** Opens either package kind's sessions. */
export async function openModelRuntime(model: ModelPackage, options: RuntimeOptions = {}): Promise<ModelRuntime> {
  return model.kind === "optimum" ? openOptimumRuntime(model, sessionSettings(options)) : openConditionRuntime(model, options);
}

/** Opens a condition-vector package's denoiser (and latent decoder). */
export async function openConditionRuntime(model: ModelPackage, options: RuntimeOptions = {}): Promise<ConditionRuntime> {
  if (model.kind !== "condition") throw new ModelPackageError("invalid-manifest", `${model.dir} is not a condition-vector package (model.json)`, model.dir);
  const settings = sessionSettings(options);
  const denoiser = await createSession(model.denoiserPath, settings);
  // the decoder goes on the provider the denoiser got, so one sample never mixes providers
  const decoder = model.decoderPath ? await createSession(model.decoderPath, { ...settings, ep: denoiser.provider }) : null;
  const meters = new Map<string, OnnxSession>();
  const dispose = async () => {
    await denoiser.dispose();
    await decoder?.dispose();
    for (const meter of meters.values()) await meter.dispose();
  };
  const expected = Object.values(model.manifest.denoiser.inputs);
  const missing = expected.filter((name) => !denoiser.inputNames.includes(name));
  if (missing.length > 0) {
    await dispose();
    throw new ModelPackageError(
      "invalid-manifest",
      `denoiser ${model.denoiserPath} has inputs [${denoiser.inputNames.join(", ")}]; the manifest names [${missing.join(", ")}] which it lacks`,
      model.dir,
    );
  }
  try {
    for (const field of model.manifest.condition.fields) {
      if (field.kind !== "scalar" || !field.feedback) continue;
      // small regressors: on the CPU, beside a denoiser on any provider
      const meter = await createSession(join(model.dir, field.feedback.meter), { ...settings, ep: "cpu" });
      meters.set(field.name, meter);
      if (!meter.inputNames.includes(field.feedback.input) || !meter.outputNames.includes(field.feedback.output)) {
        throw new ModelPackageError(
          "invalid-manifest",
          `meter ${field.feedback.meter} has inputs [${meter.inputNames.join(", ")}] and outputs [${meter.outputNames.join(", ")}]; "${field.name}"'s feedback names "${field.feedback.input}" and "${field.feedback.output}"`,
          model.dir,
        );
      }
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    kind: "condition",
    model,
    provider: denoiser.provider,
    denoiser,
    decoder,
    meters,
    onnxMillis: () => denoiser.runMillis + (decoder?.runMillis ?? 0) + [...meters.values()].reduce((sum, m) => sum + m.runMillis, 0),
    dispose,
  };
}

export interface GenerateSamplesRequest {
  model: ModelPackage;
  /** Sessions to reuse; opened (and disposed at the end) from `ep` when absent. */
  runtime?: ModelRuntime;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  /** DDIM only. */
  eta?: number;
  seed: number;
  /** Sample indices of the request; parameters[k] belongs to indices[k]. */
  indices: readonly number[];
  parameters: readonly ScenarioParameters[];
  ep?: ExecutionProviderName;
  /** Samples denoised together (default 8). */
  batchSize?: number;
  /** PNG or JPEG bytes of any size: image-to-image (with strength) and inpainting (with mask). */
  reference?: Uint8Array;
  /** 0 < strength <= 1: how much of the schedule is re-run over the noised reference (default 0.6 with a reference). */
  strength?: number;
  /** PNG or JPEG mask, white = regenerate, the size of the reference or of the model's image. */
  mask?: Uint8Array;
  /** Largest reference or mask (width × height from its header, refused before decoding; default 40,000,000). */
  maxImagePixels?: number;
  /** Text-conditioned models: a scenario's own prompt template (default: the package's). */
  promptTemplate?: PromptTemplate;
  /** Extra fields for every record (e.g. scenario name and version). */
  recordExtras?: Readonly<Record<string, unknown>>;
  onProgress?: (progress: { samplesDone: number; samplesTotal: number; batchStep: number; batchSteps: number }) => void;
}

export interface GeneratedSample {
  readonly index: number;
  readonly parameters: ScenarioParameters;
  readonly condition: Float32Array;
  /** The image in model value range, planar [C, H, W] (decoded when the model is latent). */
  readonly image: ImageTensor;
  readonly labels: GroundTruth;
  readonly record: GenerationRecord;
}

interface PreparedReference {
  /** Reference in the model's sample space [C, H, W]. */
  sample: Float32Array;
  /** 1 = regenerate, 0 = keep, per sample element (broadcast over channels); null for plain image-to-image. */
  mask: Float32Array | null;
  strength: number;
  referenceSha256: string;
  maskSha256: string | null;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A reference or mask the caller gave: a picture that cannot be decoded is a bad request. */
function decodeInput(bytes: Uint8Array, what: string, maxPixels: number | undefined): DecodedImage {
  try {
    return decodeImage(bytes, what, maxPixels);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw new GenerationInputError("reference-not-image", error.message);
    throw error;
  }
}

/** Checks the request; throws a typed error before any work is done. */
export function validateRequest(request: GenerateSamplesRequest): PreparedReference | null {
  const { model, steps, indices, parameters } = request;
  const manifest = model.manifest;
  // the same settings schema and bounds as every service entry point
  resolveSamplingSettings(
    { sampler: request.sampler, steps, guidance: request.guidance, seed: request.seed, eta: request.eta ?? null, batchSize: request.batchSize ?? DEFAULT_BATCH_SIZE },
    { manifest },
  );
  if (indices.length !== parameters.length) {
    throw new GenerationInputError("indices", `${indices.length} indices but ${parameters.length} parameter sets; give one per index`);
  }
  if (indices.some((i) => !Number.isSafeInteger(i) || i < 0) || new Set(indices).size !== indices.length) {
    throw new GenerationInputError("indices", "sample indices must be distinct non-negative integers");
  }
  for (const p of parameters) assertParametersFit(manifest, p);
  if (model.optimum?.inpainting && !(request.reference && request.mask))
    throw new GenerationInputError("unsupported", `model "${manifest.name}" is an inpainting export (9-channel UNet): it needs a reference image and a mask`);
  if (!request.reference) {
    if (request.mask) throw new GenerationInputError("mask-without-reference", "a mask needs a reference image (--reference)");
    if (request.strength !== undefined) throw new GenerationInputError("strength", "strength needs a reference image (--reference)");
    return null;
  }
  // an inpainting export regenerates the masked region from pure noise (diffusers' inpainting pipelines at strength 1)
  const strength = request.strength ?? (model.optimum?.inpainting ? 1 : 0.6);
  if (!Number.isFinite(strength) || strength <= 0 || strength > 1) throw new GenerationInputError("strength", `strength must be in (0, 1], got ${strength}`);
  if (Math.floor(steps * strength) < 1) {
    throw new GenerationInputError("strength", `strength ${strength} with ${steps} steps leaves no denoising step; raise one of them`);
  }
  if (model.kind === "optimum") return prepareImageReference(request, strength);
  if (manifest.latent) {
    throw new GenerationInputError("unsupported", `model "${manifest.name}" is a latent model without an encoder: image-to-image and inpainting need a pixel-space model`);
  }
  const [c, h, w] = sampleShape(manifest);
  const decoded = normaliseStoredRange(decodeInput(request.reference, "reference image", request.maxImagePixels), manifest.image.storedRange);
  const sample = toModelSpace(resizeBilinear(decoded, w, h), c, manifest.image.valueRange);
  let mask: Float32Array | null = null;
  if (request.mask) {
    const decodedMask = decodeInput(request.mask, "mask", request.maxImagePixels);
    const fitsReference = decodedMask.width === decoded.width && decodedMask.height === decoded.height;
    const fitsModel = decodedMask.width === w && decodedMask.height === h;
    if (!fitsReference && !fitsModel) {
      throw new GenerationInputError(
        "mask-size",
        `mask is ${decodedMask.width}x${decodedMask.height}; it must match the reference (${decoded.width}x${decoded.height}) or the model image (${w}x${h})`,
      );
    }
    const grid = maskToSampleGrid(decodedMask, w, h);
    mask = new Float32Array(c * h * w);
    for (let ch = 0; ch < c; ch++) mask.set(grid, ch * h * w);
  }
  return { sample, mask, strength, referenceSha256: sha256(request.reference), maskSha256: request.mask ? sha256(request.mask) : null };
}

/**
 * An Optimum export's reference: the image at the model's size in [-1, 1] (its VAE encodes it at run time) and the
 * mask as grey / 255 at the model's size (nearest), which the pipeline puts on the latent grid and binarises.
 */
function prepareImageReference(request: GenerateSamplesRequest, strength: number): PreparedReference {
  const { model } = request;
  const { width, height, valueRange } = model.manifest.image;
  if (!model.optimum?.parts.vaeEncoder) throw new GenerationInputError("unsupported", `model "${model.manifest.name}" has no vae_encoder/model.onnx: image-to-image and inpainting need it`);
  const decoded = decodeInput(request.reference!, "reference image", request.maxImagePixels);
  const sample = toModelSpace(resizeBilinear(decoded, width, height), 3, valueRange);
  let mask: Float32Array | null = null;
  if (request.mask) {
    const decodedMask = decodeInput(request.mask, "mask", request.maxImagePixels);
    if (!(decodedMask.width === decoded.width && decodedMask.height === decoded.height) && !(decodedMask.width === width && decodedMask.height === height))
      throw new GenerationInputError("mask-size", `mask is ${decodedMask.width}x${decodedMask.height}; it must match the reference (${decoded.width}x${decoded.height}) or the model image (${width}x${height})`);
    const grey = toModelSpace(decodedMask, 1, [0, 1]);
    mask = resizeNearest(grey, decodedMask.width, decodedMask.height, width, height);
  }
  return { sample, mask, strength, referenceSha256: sha256(request.reference!), maskSha256: request.mask ? sha256(request.mask) : null };
}

/** The condition rows the denoiser sees: [uncond x B, cond_1..cond_B] with guidance, else the conditions alone. */
function denoiserConditions(count: number, conditions: Float32Array, unconditional: Float32Array, guided: boolean): Float32Array {
  if (!guided) return conditions;
  const width = unconditional.length;
  const rows = new Float32Array(2 * count * width);
  for (let b = 0; b < count; b++) rows.set(unconditional, b * width);
  rows.set(conditions, count * width);
  return rows;
}

async function guidedModelOutput(
  runtime: ConditionRuntime,
  modelInput: Float32Array,
  count: number,
  timestep: number,
  condition: Float32Array,
  guidance: number,
): Promise<Float32Array> {
  const manifest = runtime.model.manifest;
  const [c, h, w] = sampleShape(manifest);
  const n = c * h * w;
  const width = manifest.condition.width;
  const guided = guidance !== 1; // g = 1 is the conditional output alone: skip the unconditional pass
  const rows = guided ? 2 * count : count;
  let sample = modelInput;
  if (guided) {
    sample = new Float32Array(rows * n);
    sample.set(modelInput, 0);
    sample.set(modelInput, count * n);
  }
  const timestepInput: TensorInput =
    manifest.denoiser.timestepDtype === "int64"
      ? { type: "int64", data: new BigInt64Array(rows).fill(BigInt(Math.round(timestep))), dims: [rows] }
      : { type: "float32", data: new Float32Array(rows).fill(timestep), dims: [rows] };
  const names = manifest.denoiser.inputs;
  const outputs = await runtime.denoiser.run({
    [names.sample]: { type: "float32", data: sample, dims: [rows, c, h, w] },
    [names.timestep]: timestepInput,
    [names.condition]: { type: "float32", data: condition, dims: [rows, width] },
  });
  const output = outputs[manifest.denoiser.output];
  if (!output) throw new ModelPackageError("invalid-manifest", `denoiser has no output "${manifest.denoiser.output}"`, runtime.model.dir);
  if (output.data.length !== rows * n) {
    throw new ModelPackageError("invalid-manifest", `denoiser output has ${output.data.length} values for ${rows} rows of ${n}`, runtime.model.dir);
  }
  if (!guided) return output.data;
  // out = uncond + g * (cond - uncond)
  const result = new Float32Array(count * n);
  const out = output.data;
  for (let i = 0; i < count * n; i++) {
    const u = out[i] ?? 0;
    result[i] = u + guidance * ((out[count * n + i] ?? 0) - u);
  }
  return result;
}

export interface DenoiseBatchOptions {
  runtime: ConditionRuntime;
  scheduler: Scheduler;
  steps: number;
  guidance: number;
  /** Condition vectors of the batch, concatenated [B, width]. */
  conditions: Float32Array;
  /** One noise source per sample, in batch order. */
  noise: readonly NoiseSource[];
  reference?: PreparedReference | null;
  /** Each sample's scenario parameters: with them, the manifest's feedback holds its fields to the request. */
  parameters?: readonly ScenarioParameters[];
  onStep?: (step: number, steps: number) => void;
}

/** The denoising loop for one batch: returns the final samples [B, C, H, W] in model (or latent) space. */
export async function denoiseBatch(options: DenoiseBatchOptions): Promise<Float32Array> {
  const { runtime, conditions, noise } = options;
  const manifest = runtime.model.manifest;
  const [c, h, w] = sampleShape(manifest);
  // guidance distilled into the denoiser: its conditional pass alone is the guided output
  const distilled = distilledGuidanceIssue(manifest, options.guidance);
  if (distilled) throw new ValidationError([distilled], "invalid sampling settings");
  const guidance = manifest.denoiser.distilledGuidance === undefined ? options.guidance : 1;
  const rowConditions = denoiserConditions(noise.length, conditions, unconditionalVector(manifest), guidance !== 1);
  const refine = options.parameters ? createFeedback(manifest, runtime.meters, options.parameters, runtime.model.dir) : null;
  return denoiseLoop({
    scheduler: options.scheduler,
    steps: options.steps,
    sampleSize: c * h * w,
    noise,
    start: options.reference ? { sample: options.reference.sample, strength: options.reference.strength } : null,
    blendMask: options.reference?.mask ?? null,
    predict: (modelInput, t) => guidedModelOutput(runtime, modelInput, noise.length, t, rowConditions, guidance),
    ...(refine ? { refine } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
}

/** Latent -> image through the manifest's decoder (sample / scalingFactor first), or the sample itself. */
export async function decodeSamples(runtime: ConditionRuntime, samples: Float32Array, count: number): Promise<Float32Array> {
  const manifest = runtime.model.manifest;
  if (!manifest.latent || !runtime.decoder) return samples;
  const [c, h, w] = sampleShape(manifest);
  const scaled = samples.map((v) => v / manifest.latent!.scalingFactor);
  const outputs = await runtime.decoder.run({ [manifest.latent.input]: { type: "float32", data: scaled, dims: [count, c, h, w] } });
  const image = outputs[manifest.latent.output];
  if (!image) throw new ModelPackageError("invalid-manifest", `decoder has no output "${manifest.latent.output}"`, runtime.model.dir);
  const expected = count * manifest.image.channels * manifest.image.height * manifest.image.width;
  if (image.data.length !== expected) {
    throw new ModelPackageError("invalid-manifest", `decoder output has ${image.data.length} values, the manifest's image needs ${expected}`, runtime.model.dir);
  }
  return image.data;
}

/** A prompt template and its negative prompt (both may use {parameter} fields). */
export interface PromptTemplate {
  template: string;
  negative: string;
}

/** The prompt and negative prompt a sample's parameters draw from a template. */
export function drawnPrompt(template: PromptTemplate, parameters: ScenarioParameters): { text: string; negative: string } {
  return { text: renderPrompt(template.template, parameters), negative: renderPrompt(template.negative, parameters) };
}

/** Generates the requested samples, batch by batch, with one record each. */
export async function generateSamples(request: GenerateSamplesRequest): Promise<GeneratedSample[]> {
  const reference = validateRequest(request);
  if (request.runtime && request.runtime.model.dir !== request.model.dir) {
    throw new GenerationInputError("unsupported", `the runtime given is for ${request.runtime.model.dir}, the request is for ${request.model.dir}`);
  }
  const { model, sampler, steps, guidance, seed, indices, parameters } = request;
  const manifest = model.manifest;
  const conditions = parameters.map((p) => encodeCondition(manifest, p));
  const drawnPrompts = parameters.map((p) => (model.optimum ? drawnPrompt(request.promptTemplate ?? model.optimum.manifest.prompt, p) : null));
  const runtime = request.runtime ?? (await openModelRuntime(model, { ep: request.ep ?? "cpu" }));
  const batchSize = request.batchSize ?? DEFAULT_BATCH_SIZE;
  const { width, height, channels } = manifest.image;
  const imageSize = width * height * channels;
  const results: GeneratedSample[] = [];
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      const batchIndices = indices.slice(start, start + batchSize);
      const count = batchIndices.length;
      const batchConditions = new Float32Array(count * manifest.condition.width);
      batchIndices.forEach((_, b) => batchConditions.set(conditions[start + b] ?? new Float32Array(), b * manifest.condition.width));
      const exported = model.optimum;
      const scheduler = createScheduler(sampler, {
        schedule: manifest.denoiser.schedule,
        prediction: manifest.denoiser.prediction,
        ...(request.eta !== undefined ? { eta: request.eta } : {}),
        // an export's scheduler_config.json: its timestep spacing, steps_offset and final alpha
        ...(exported ? { spacing: exported.scheduler.spacing, stepsOffset: exported.scheduler.stepsOffset, setAlphaToOne: exported.scheduler.setAlphaToOne } : {}),
      });
      const noise = batchIndices.map((index) => new SampleNoise(seed, index));
      const onStep = (step: number, batchSteps: number) => request.onProgress?.({ samplesDone: start, samplesTotal: indices.length, batchStep: step, batchSteps });
      let images: Float32Array;
      if (runtime.kind === "optimum") {
        const prompts = batchIndices.map((_, b) => drawnPrompts[start + b]!);
        images = await sampleOptimumBatch({
          runtime,
          scheduler,
          steps,
          guidance,
          prompts: prompts.map((p) => p.text),
          negativePrompts: prompts.map((p) => p.negative),
          noise,
          reference: reference ? { image: reference.sample, mask: reference.mask, strength: reference.strength } : null,
          onStep,
        });
      } else {
        const batchParameters = batchIndices.map((_, b) => parameters[start + b] ?? {});
        const samples = await denoiseBatch({ runtime, scheduler, steps, guidance, conditions: batchConditions, noise, reference, parameters: batchParameters, onStep });
        images = await decodeSamples(runtime, samples, count);
      }
      batchIndices.forEach((index, b) => {
        const sampleParameters = parameters[start + b] ?? {};
        const condition = conditions[start + b] ?? new Float32Array();
        const record = buildGenerationRecord(
          {
            model: { name: manifest.name, version: manifest.version, fileHashes: model.fileHashes },
            sampler,
            ...(request.eta !== undefined ? { eta: request.eta } : {}),
            steps,
            guidance,
            seed,
            index,
            parameters: sampleParameters,
            condition,
            calibrated: calibratedParameters(manifest, sampleParameters, guidance),
            held: heldRecord(manifest, model.fileHashes, sampleParameters),
            executionProvider: runtime.provider,
            ...(reference ? { imageToImage: { strength: reference.strength, referenceSha256: reference.referenceSha256, maskSha256: reference.maskSha256 } } : {}),
            ...(drawnPrompts[start + b] ? { prompt: drawnPrompts[start + b]! } : {}),
            onnxruntimeVersion: onnxRuntimeVersion(),
          },
          request.recordExtras,
        );
        results.push({
          index,
          parameters: sampleParameters,
          condition,
          image: { data: images.slice(b * imageSize, (b + 1) * imageSize), channels, height, width },
          labels: deriveLabels(manifest, sampleParameters),
          record,
        });
      });
      request.onProgress?.({ samplesDone: start + count, samplesTotal: indices.length, batchStep: steps, batchSteps: steps });
    }
  } finally {
    if (!request.runtime) await runtime.dispose();
  }
  return results;
}
