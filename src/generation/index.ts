// One batch of samples end to end, as a worker runs it: draw each sample's parameters from (seed, index),
// sample them with the model's diffusion runtime, encode each as a file with its provenance record
// embedded. No database here: the caller stores the files and commits the records (src/jobs/).
import {
  encodeSamplePng,
  generateSamples,
  openModelRuntime,
  type ExecutionProviderName,
  type GeneratedSample,
  type ModelRuntime,
  type SamplerName,
} from "../diffusion/index.ts";
import type { GenerationRecord } from "../imaging/index.ts";
import { loadModelPackage, resolveModelDir, type GroundTruth, type ModelManifest, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
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
  spec: Pick<ScenarioSpec, "parameters">;
  jobId: string;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  seed: number;
  indices: readonly number[];
  /** Parameters given per index (a failure search's proposals) instead of drawn from (seed, index). */
  parametersFor?: (index: number) => ScenarioParameters | undefined;
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
  bytes: Uint8Array;
  mediaType: string;
  sha256: string;
  timings: SampleTimings;
}

export interface FailedSample {
  status: "FAILED";
  index: number;
  parameters: ScenarioParameters | null;
  error: string;
}

export type BatchOutcome = GeneratedArtifact | FailedSample;

/** The encoded file of a sample and its media type. */
export interface EncodedArtifact {
  bytes: Uint8Array;
  mediaType: string;
}

/**
 * Sample -> file. PNG (8-bit RGB, or 16-bit gray for medical models) with the record in a text chunk.
 * DICOM hook: models whose manifest says `dicom-gray16` are stored as 16-bit PNG for now. To write DICOM
 * here (imaging/dicom's writeSyntheticDicom), the writer must be byte-deterministic for a given record
 * (UIDs from uidFromName(jobId, index), dates from the record), or reproduceSample cannot match hashes.
 */
export function encodeArtifact(sample: GeneratedSample, manifest: ModelManifest): EncodedArtifact {
  return { bytes: encodeSamplePng(sample, manifest), mediaType: "image/png" };
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
      recordExtras: { scenario: request.scenario, job: { id: request.jobId } },
    });
    const generateMs = (performance.now() - started) / samples.length;
    const onnxMs = (request.runtime.onnxMillis() - onnxBefore) / samples.length;
    for (const sample of samples) {
      const encodeStarted = performance.now();
      const { bytes, mediaType } = encodeArtifact(sample, request.model.manifest);
      outcomes.set(sample.index, {
        status: "OK",
        index: sample.index,
        parameters: sample.parameters,
        condition: Array.from(sample.condition),
        labels: sample.labels,
        record: sample.record,
        bytes,
        mediaType,
        sha256: sha256Of(bytes),
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

/** Keys the sampling pipeline writes into every record; anything else came in as recordExtras. */
const PIPELINE_RECORD_KEYS = new Set(["model", "sampler", "eta", "steps", "guidance", "seed", "index", "parameters", "condition", "executionProvider", "imageToImage", "versions"]);

export interface Reproduction {
  sha256: string;
  bytes: Uint8Array;
  mediaType: string;
  record: GenerationRecord;
}

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
  const model = loadModelPackage(resolveModelDir(record.model.name, modelsDir));
  if (model.manifest.version !== record.model.version) {
    throw new ReproductionError(`model ${record.model.name} is version ${model.manifest.version} here; the sample was made with ${record.model.version}`);
  }
  for (const [file, hash] of Object.entries(record.model.fileHashes)) {
    if (model.fileHashes[file] !== hash) throw new ReproductionError(`model file ${file} has changed since the sample was made (sha256 ${model.fileHashes[file] ?? "missing"}, recorded ${hash})`);
  }
  const extras = Object.fromEntries(Object.entries(record).filter(([key]) => !PIPELINE_RECORD_KEYS.has(key)));
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
      recordExtras: extras,
    });
    const { bytes, mediaType } = encodeArtifact(sample!, model.manifest);
    return { sha256: sha256Of(bytes), bytes, mediaType, record: sample!.record };
  } finally {
    await runtime.dispose();
  }
}
