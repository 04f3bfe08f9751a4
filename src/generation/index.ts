// One batch of samples end to end, as a worker runs it: draw each sample's parameters from (seed, index),
// sample them with the model's diffusion runtime, encode each as a file with its provenance record
// embedded. No database here: the caller stores the files and commits the records (src/jobs/).
import { isDeepStrictEqual } from "node:util";
import { encodeSamplePng, generateSamples, heldRecord, openModelRuntime, samplePixels, type GeneratedSample, type ModelRuntime, type SamplerName, type SamplingQuality } from "../diffusion/index.ts";
import type { ExecutionProviderName } from "../runtime/index.ts";
import { jobSampleUidNames, recordUidNames, writeMedicalSampleFiles, type CompanionFile, type PngPixels } from "../imaging/index.ts";
import { recordExtras, type GenerationRecord } from "../provenance/index.ts";
import { conditionCircles, encodeCondition, loadModelPackageAsync, resolveModelDir, type GroundTruth, type ModelManifest, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import { drawParameters, type ScenarioSpec } from "../scenarios/index.ts";
import { sha256Of } from "../storage/index.ts";

export interface ScenarioIdentity {
  id: string;
  name: string;
  version: number;
  specHash: string;
}

export interface BatchRequest {
  model: ModelPackage;
  runtime: ModelRuntime;
  scenario: ScenarioIdentity;
  spec: Pick<ScenarioSpec, "parameters" | "prompt">;
  jobId: string;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  seed: number;
  indices: readonly number[];
  /** When the job was created: the date in its DICOM files (carried in the record, so reproduction matches). */
  jobCreatedAt?: Date;
  /** Parameters given per index (a failure search's proposals) instead of drawn from (seed, index). */
  parametersFor?: (index: number) => ScenarioParameters | undefined;
  /** The quality the job asked for (quality FAST: sampler/steps/guidance came from the manifest's `fast`), recorded with each sample. */
  quality?: SamplingQuality;
}

export interface SampleTimings {
  /** Wall time of the batch's sampling, shared equally among its samples. */
  generateMs: number;
  /** Of which inside onnxruntime. */
  onnxMs: number;
  encodeMs: number;
}

export interface GeneratedArtifact {
  status: "OK";
  index: number;
  parameters: ScenarioParameters;
  condition: number[];
  labels: GroundTruth;
  record: GenerationRecord;
  /** The pixels the main file stores. */
  pixels: PngPixels;
  bytes: Uint8Array;
  mediaType: string;
  sha256: string;
  /** Files beside the main artifact (medical models: the DICOM image, ground-truth JSON, DICOM SEG). */
  files: EncodedFile[];
  timings: SampleTimings;
}

export interface FailedSample {
  status: "FAILED";
  index: number;
  parameters: ScenarioParameters | null;
  error: string;
}

export type BatchOutcome = GeneratedArtifact | FailedSample;

/** The encoded file of a sample and its media type, and the files that go with it. */
export interface EncodedArtifact {
  /** The pixels the file stores (what a detector in the loop scores, without decoding the file). */
  pixels: PngPixels;
  bytes: Uint8Array;
  mediaType: string;
  files: EncodedFile[];
}

export interface EncodedFile extends CompanionFile {
  sha256: string;
}

/**
 * Sample -> files. The main artifact is a PNG (8-bit RGB, or 16-bit gray in stored units for medical
 * models) with the record in a text chunk: detectors, galleries and previews read it. Models whose
 * manifest says `dicom-gray16` also get the DICOM image (role "dicom"), the lesion ground truth as JSON
 * and, with a lesion, a DICOM Segmentation. Byte-deterministic for a given record: UIDs from the job id
 * and index, dates from the job's creation time in the record.
 */
export function encodeArtifact(sample: GeneratedSample, manifest: ModelManifest): EncodedArtifact {
  const pixels = samplePixels(sample, manifest);
  const png = encodeSamplePng(sample, manifest, pixels);
  if (manifest.image.format !== "dicom-gray16") return { pixels, bytes: png, mediaType: "image/png", files: [] };
  const record = sample.record;
  const job = record.job as { id?: string; createdAt?: string } | undefined;
  const scenario = record.scenario as { name?: string; version?: number } | undefined;
  const medical = writeMedicalSampleFiles({
    pixels: pixels.data as Uint16Array,
    rows: pixels.height,
    columns: pixels.width,
    modality: manifest.image.modality ?? "OT",
    record,
    model: { name: manifest.name, version: manifest.version },
    lesions: conditionCircles(manifest, sample.parameters),
    uidNames: job?.id ? jobSampleUidNames(job.id, record.index) : recordUidNames(record),
    instanceNumber: record.index + 1,
    // A record without the job's time (made outside a job) gets a fixed date rather than the clock's.
    createdAt: new Date(job?.createdAt ?? 0),
    ...(scenario?.name ? { seriesDescription: `RareForge ${scenario.name} v${scenario.version ?? ""}` } : {}),
  });
  const files = [medical.dicom, medical.groundTruth, ...(medical.segmentation ? [medical.segmentation] : [])];
  return { pixels, bytes: png, mediaType: "image/png", files: files.map((file) => ({ ...file, sha256: sha256Of(file.bytes) })) };
}


const errorText = (error: unknown) => `${(error as Error).name ?? "Error"}: ${(error as Error).message ?? String(error)}`;

/**
 * Generates the given indices. A batch that fails as a whole is retried sample by sample, so one bad
 * sample is recorded as FAILED with its error and does not take its neighbours with it.
 */
export async function generateBatch(request: BatchRequest): Promise<BatchOutcome[]> {
  const outcomes = new Map<number, BatchOutcome>();
  const drawn: Array<{ index: number; parameters: ScenarioParameters }> = [];
  for (const index of request.indices) {
    try {
      drawn.push({ index, parameters: request.parametersFor?.(index) ?? (drawParameters(request.spec, request.seed, index) as ScenarioParameters) });
    } catch (error) {
      outcomes.set(index, { status: "FAILED", index, parameters: null, error: errorText(error) });
    }
  }
  const run = async (group: typeof drawn) => {
    const started = performance.now();
    const onnxBefore = request.runtime.onnxMillis();
    const samples = await generateSamples({
      model: request.model,
      runtime: request.runtime,
      sampler: request.sampler,
      steps: request.steps,
      guidance: request.guidance,
      seed: request.seed,
      indices: group.map((d) => d.index),
      parameters: group.map((d) => d.parameters),
      batchSize: group.length,
      ...(request.spec.prompt ? { promptTemplate: request.spec.prompt } : {}),
      recordExtras: { scenario: request.scenario, job: { id: request.jobId, ...(request.jobCreatedAt ? { createdAt: request.jobCreatedAt.toISOString() } : {}) }, ...(request.quality ? { quality: request.quality } : {}) },
    });
    const generateMs = (performance.now() - started) / samples.length;
    const onnxMs = (request.runtime.onnxMillis() - onnxBefore) / samples.length;
    for (const sample of samples) {
      const encodeStarted = performance.now();
      const { pixels, bytes, mediaType, files } = encodeArtifact(sample, request.model.manifest);
      outcomes.set(sample.index, {
        status: "OK",
        index: sample.index,
        parameters: sample.parameters,
        condition: Array.from(sample.condition),
        labels: sample.labels,
        record: sample.record,
        pixels,
        bytes,
        mediaType,
        sha256: sha256Of(bytes),
        files,
        timings: { generateMs, onnxMs, encodeMs: performance.now() - encodeStarted },
      });
    }
  };
  if (drawn.length > 0) {
    try {
      await run(drawn);
    } catch {
      for (const one of drawn) {
        try {
          await run([one]);
        } catch (error) {
          outcomes.set(one.index, { status: "FAILED", index: one.index, parameters: one.parameters, error: errorText(error) });
        }
      }
    }
  }
  return request.indices.map((index) => outcomes.get(index)!);
}


export interface Reproduction {
  sha256: string;
  bytes: Uint8Array;
  mediaType: string;
  /** The files beside the main artifact, regenerated too (medical: DICOM, ground truth, SEG). */
  files: EncodedFile[];
  record: GenerationRecord;
}

/** A template whose rendering is `text` itself (braces doubled). */
const literalTemplate = (text: string) => text.replaceAll("{", "{{").replaceAll("}", "}}");

export class ReproductionError extends Error {
  override name = "ReproductionError";
}

/**
 * Regenerates a sample from its provenance record alone: the model named and hashed in the record (a
 * package whose files differ is refused), the recorded parameters, sampler, steps, guidance, seed, index
 * and execution provider. The caller compares the hash with the stored one.
 */
export async function reproduceFromRecord(record: GenerationRecord, modelsDir: string, options: { intraOpThreads?: number } = {}): Promise<Reproduction> {
  if (record.imageToImage) throw new ReproductionError("reproducing image-to-image samples needs their reference image, which the store does not keep");
  const model = await loadModelPackageAsync(resolveModelDir(record.model.name, modelsDir));
  if (model.manifest.version !== record.model.version) {
    throw new ReproductionError(`model ${record.model.name} is version ${model.manifest.version} here; the sample was made with ${record.model.version}`);
  }
  for (const [file, hash] of Object.entries(record.model.fileHashes)) {
    if (model.fileHashes[file] !== hash) throw new ReproductionError(`model file ${file} has changed since the sample was made (sha256 ${model.fileHashes[file] ?? "missing"}, recorded ${hash})`);
  }
  // A calibration map added or changed since (same weights, same version) would feed the model other values.
  const condition = encodeCondition(model.manifest, record.parameters as ScenarioParameters);
  if (record.condition && record.condition.some((v, i) => v !== condition[i])) {
    throw new ReproductionError(`model ${record.model.name} encodes the recorded parameters differently now (its manifest's calibration changed since the sample was made)`);
  }
  // Feedback added, changed or removed since (same weights, same version) would hold the sample differently.
  const held = heldRecord(model.manifest, model.fileHashes, record.parameters as ScenarioParameters);
  if (!isDeepStrictEqual(held, record.held ?? {})) {
    throw new ReproductionError(
      `model ${record.model.name} holds the recorded parameters differently now (its manifest's feedback changed since the sample was made: ` +
        `recorded ${JSON.stringify(record.held ?? {})}, now ${JSON.stringify(held)})`,
    );
  }
  const runtime = await openModelRuntime(model, {
    ep: record.executionProvider as ExecutionProviderName,
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
  });
  try {
    const [sample] = await generateSamples({
      model,
      runtime,
      sampler: record.sampler as SamplerName,
      steps: record.steps,
      guidance: record.guidance,
      ...(typeof record.eta === "number" ? { eta: record.eta } : {}),
      seed: record.seed,
      indices: [record.index],
      parameters: [record.parameters as ScenarioParameters],
      batchSize: 1,
      // the prompt as recorded (whichever template drew it), escaped into a template that renders to itself
      ...(record.prompt ? { promptTemplate: { template: literalTemplate(record.prompt.text), negative: literalTemplate(record.prompt.negative) } } : {}),
      recordExtras: recordExtras(record),
    });
    const { bytes, mediaType, files } = encodeArtifact(sample!, model.manifest);
    return { sha256: sha256Of(bytes), bytes, mediaType, files, record: sample!.record };
  } finally {
    await runtime.dispose();
  }
}
