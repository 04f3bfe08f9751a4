// A sample's provenance: the generation record (what made it, enough to make it again), how it is built,
// and the shape it is stored in. PNG text chunks, DICOM private blocks and the database only carry it.
import { RAREFORGE_VERSION } from "../version.ts";

/** What generated an image: everything needed to reproduce it. Free-form beyond the named fields. */
export interface GenerationRecord {
  readonly model: { readonly name: string; readonly version: string; readonly fileHashes: Readonly<Record<string, string>> };
  readonly sampler: string;
  /** DDIM only. */
  readonly eta?: number;
  readonly steps: number;
  readonly guidance: number;
  readonly seed: number;
  readonly index: number;
  readonly parameters: Readonly<Record<string, string | number>>;
  readonly condition?: readonly number[];
  /**
   * Per calibrated scalar field (manifest `calibration`): the requested value and the one fed to the model, and
   * `measuredAtGuidance` when the sample was drawn at another guidance than the map was measured at.
   */
  readonly calibrated?: Readonly<Record<string, { readonly requested: number; readonly encoded: number; readonly measuredAtGuidance?: number }>>;
  /** Per scalar field the manifest's feedback held while sampling (docs/model-package.md "Feedback"): how. */
  readonly held?: Readonly<Record<string, HeldRecord>>;
  readonly executionProvider: string;
  readonly imageToImage?: { readonly strength: number; readonly referenceSha256: string; readonly maskSha256: string | null };
  /** Text-conditioned models (Optimum exports): the prompt and negative prompt drawn from the template. */
  readonly prompt?: { readonly text: string; readonly negative: string };
  readonly versions: Readonly<Record<string, string>>;
  readonly [extra: string]: unknown;
}

/** A field held by feedback: the request it was held to, the meter's file hash and the settings it acted with. */
export interface HeldRecord {
  readonly requested: number;
  readonly kind: string;
  readonly meterSha256: string;
  readonly fromStep: number;
  readonly strength: number;
  readonly maxRatio: number;
  readonly feather: number;
}

/** What the sampling pipeline knows about one sample when it is made. */
export interface SampleOrigin {
  model: { name: string; version: string; fileHashes: Readonly<Record<string, string>> };
  sampler: string;
  eta?: number;
  steps: number;
  guidance: number;
  seed: number;
  index: number;
  parameters: Readonly<Record<string, string | number>>;
  condition: ArrayLike<number>;
  /** Calibrated scalar fields: requested and encoded value (parameters keep the request, condition the encoding). */
  calibrated?: Readonly<Record<string, { requested: number; encoded: number; measuredAtGuidance?: number }>>;
  /** Fields the manifest's feedback held for this sample. */
  held?: Readonly<Record<string, HeldRecord>>;
  /** The provider the sessions resolved to (never "auto"). */
  executionProvider: string;
  imageToImage?: { strength: number; referenceSha256: string; maskSha256: string | null };
  prompt?: { text: string; negative: string };
  onnxruntimeVersion: string;
}

/** Keys buildGenerationRecord writes itself; any other key of a record came in as an extra (scenario, job…). */
export const PIPELINE_RECORD_KEYS: ReadonlySet<string> = new Set([
  "model",
  "sampler",
  "eta",
  "steps",
  "guidance",
  "seed",
  "index",
  "parameters",
  "condition",
  "calibrated",
  "held",
  "executionProvider",
  "imageToImage",
  "prompt",
  "versions",
]);

/**
 * The record of one sample. Key order is part of the contract: the record is serialised into the file,
 * and reproducing the same bytes needs the same order (extras last).
 */
export function buildGenerationRecord(origin: SampleOrigin, extras: Readonly<Record<string, unknown>> = {}): GenerationRecord {
  return {
    model: { name: origin.model.name, version: origin.model.version, fileHashes: origin.model.fileHashes },
    sampler: origin.sampler,
    ...(origin.sampler === "ddim" ? { eta: origin.eta ?? 0 } : {}),
    steps: origin.steps,
    guidance: origin.guidance,
    seed: origin.seed,
    index: origin.index,
    parameters: origin.parameters,
    condition: Array.from(origin.condition),
    ...(origin.calibrated && Object.keys(origin.calibrated).length > 0 ? { calibrated: origin.calibrated } : {}),
    ...(origin.held && Object.keys(origin.held).length > 0 ? { held: origin.held } : {}),
    executionProvider: origin.executionProvider,
    ...(origin.imageToImage ? { imageToImage: origin.imageToImage } : {}),
    ...(origin.prompt ? { prompt: { text: origin.prompt.text, negative: origin.prompt.negative } } : {}),
    versions: { rareforge: RAREFORGE_VERSION, onnxruntime: origin.onnxruntimeVersion, node: process.versions.node },
    ...extras,
  };
}

/** The extras of a record (everything buildGenerationRecord did not write), to pass again when reproducing it. */
export function recordExtras(record: GenerationRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !PIPELINE_RECORD_KEYS.has(key)));
}

/** A stored file's identity, as the provenance row names it. */
export interface ArtifactIdentity {
  sha256: string;
  mediaType: string;
  byteSize: number;
}

/** How a sample or insertion's provenance is stored (Sample.provenance, PathologyInsertion.provenance). */
export interface StoredProvenance {
  record: GenerationRecord;
  /** The record exactly as serialised into the file: jsonb reorders object keys, and reproducing the same bytes needs the same order. */
  recordJson: string;
  /** What cannot be inside the file: the file's own hash. */
  artifact?: ArtifactIdentity;
  timings?: Readonly<Record<string, number>>;
}

export function storedProvenance(record: GenerationRecord, artifact?: ArtifactIdentity, timings?: Readonly<Record<string, number>>): StoredProvenance {
  return { record, recordJson: JSON.stringify(record), ...(artifact ? { artifact } : {}), ...(timings ? { timings } : {}) };
}

/** The record of a stored provenance value (the exact serialised text when present), or null. */
export function storedRecord(provenance: unknown): GenerationRecord | null {
  if (!provenance || typeof provenance !== "object") return null;
  const { recordJson, record } = provenance as { recordJson?: unknown; record?: unknown };
  if (typeof recordJson === "string") return JSON.parse(recordJson) as GenerationRecord;
  return record && typeof record === "object" ? (record as GenerationRecord) : null;
}
