// Samples of a background scenario: for sample i of a job, the frame, the hazard's box (or its place on the road)
// and the condition are drawn from (seed, i) alone, and the hazard is inserted into the frame at full resolution
// through the same path as a single insertion (insertHazardIntoFrame). The result is an ordinary sample: a PNG
// with its record, ground truth in frame pixels, ready for scoring, reports and exports. No database here: the
// worker stores and commits, as for model samples.
import { openModelRuntime, type ModelRuntime, type SamplerName, type SamplingQuality } from "../diffusion/index.ts";
import { ReproductionError, type BatchOutcome, type GeneratedArtifact, type Reproduction, type ScenarioIdentity } from "../generation/index.ts";
import { encodeCondition, loadModelPackageAsync, resolveModelDir, type GroundTruth, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import { recordExtras, type GenerationRecord } from "../provenance/index.ts";
import type { ExecutionProviderName } from "../runtime/index.ts";
import { backgroundParameters, BACKGROUND_FRAME_PARAMETER, drawParameters, uniformAt, type ScenarioSpec } from "../scenarios/index.ts";
import { sha256Of } from "../storage/index.ts";
import { DEFAULT_FEATHER } from "./inpaint.ts";
import { boxFromPlacement, decodeCameraFrame, hazardLabelOf, insertHazardIntoFrame, type CameraFrame, type FrameBox } from "./hazard.ts";
import { conditionValuesOf, type BackgroundFrame, type ResolvedBackground } from "./reference-sets.ts";

/** What sample `index` of a background scenario is made of: its frame, the hazard's box in it, and every drawn value. */
export interface FrameDraw {
  frame: BackgroundFrame;
  box: FrameBox;
  /** The drawn parameters (condition values and the placement's), plus the frame's reference upload id. */
  parameters: ScenarioParameters;
}

/**
 * Draws sample `index`: the frame uniformly from the set's (frozen) order with its own stream, the scenario's
 * parameters as drawParameters does (or the given ones), and the box from the background's box parameters
 * (rounded to whole pixels) or its placement through the frame's camera. Throws the insertion's typed refusal
 * when the drawn box cannot be used in this frame.
 */
export function drawFrameSample(spec: ScenarioSpec, background: ResolvedBackground, hazardClassField: string, seed: number, index: number, given?: ScenarioParameters): FrameDraw {
  const frames = background.frames;
  const frame = frames[Math.min(frames.length - 1, Math.floor(uniformAt(seed, index, "background.frame") * frames.length))]!;
  const drawn = (given ?? drawParameters(spec, seed, index)) as ScenarioParameters;
  const names = backgroundParameters(spec.background!);
  const value = (role: string) => drawn[names[role]!] as number;
  let box: FrameBox;
  if (spec.background!.box) box = { x: Math.round(value("x")), y: Math.round(value("y")), width: Math.round(value("width")), height: Math.round(value("height")) };
  else {
    const across = names["lateral"] !== undefined ? { lateralM: value("lateral") } : { x: Math.round(value("column")) };
    box = boxFromPlacement({ ...across, distanceM: value("distance") }, frame.camera, String(drawn[hazardClassField]), frame);
  }
  return { frame, box, parameters: { ...drawn, [BACKGROUND_FRAME_PARAMETER]: frame.referenceScanId } };
}

export interface FrameBatchRequest {
  model: ModelPackage;
  runtime: ModelRuntime;
  scenario: ScenarioIdentity;
  spec: ScenarioSpec;
  background: ResolvedBackground;
  /** The stored frame file by its sha256 (the artifact store). */
  readFrame: (sha256: string) => Promise<Uint8Array>;
  maxImagePixels: number;
  jobId: string;
  jobCreatedAt?: Date;
  sampler: SamplerName;
  steps: number;
  guidance: number;
  seed: number;
  executionProvider: ExecutionProviderName;
  indices: readonly number[];
  parametersFor?: (index: number) => ScenarioParameters | undefined;
  /** The quality the job asked for, recorded with each sample. */
  quality?: SamplingQuality;
}

const errorText = (error: unknown) => `${(error as Error).name ?? "Error"}: ${(error as Error).message ?? String(error)}`;

/** Generates the indices one by one (an insertion is one sample); a sample that fails is recorded with its reason. */
export async function generateFrameBatch(request: FrameBatchRequest): Promise<BatchOutcome[]> {
  const label = hazardLabelOf(request.model);
  const decoded = new Map<string, CameraFrame>();
  const outcomes: BatchOutcome[] = [];
  for (const index of request.indices) {
    let draw: FrameDraw | null = null;
    try {
      draw = drawFrameSample(request.spec, request.background, label.classField, request.seed, index, request.parametersFor?.(index));
      let frame = decoded.get(draw.frame.sha256);
      if (!frame) {
        frame = decodeCameraFrame(await request.readFrame(draw.frame.sha256), request.maxImagePixels);
        decoded.set(draw.frame.sha256, frame);
      }
      outcomes.push(await insertIntoFrame(request, draw, frame, index));
    } catch (error) {
      outcomes.push({ status: "FAILED", index, parameters: draw?.parameters ?? null, error: errorText(error) });
    }
  }
  return outcomes;
}

async function insertIntoFrame(request: FrameBatchRequest, draw: FrameDraw, frame: CameraFrame, index: number): Promise<GeneratedArtifact> {
  const condition = conditionValuesOf(draw.parameters, request.model.manifest);
  const feather = request.spec.background!.feather ?? DEFAULT_FEATHER;
  const result = await insertHazardIntoFrame({
    frame,
    frameSha256: draw.frame.sha256,
    box: draw.box,
    parameters: condition,
    model: request.model,
    runtime: request.runtime,
    settings: { sampler: request.sampler, steps: request.steps, guidance: request.guidance, seed: request.seed, executionProvider: request.executionProvider, batchSize: 1 },
    feather,
    index,
    sampleExtras: {
      scenario: request.scenario,
      job: { id: request.jobId, ...(request.jobCreatedAt ? { createdAt: request.jobCreatedAt.toISOString() } : {}) },
      background: { referenceSetId: request.background.referenceSetId, referenceSet: request.background.name, drawn: draw.parameters },
      ...(request.quality ? { quality: request.quality } : {}),
    },
    recordExtras: { referenceScanId: draw.frame.referenceScanId },
  });
  return {
    status: "OK",
    index,
    parameters: draw.parameters,
    condition: Array.from(encodeCondition(request.model.manifest, result.parameters)),
    labels: frameLabels(result.groundTruth.class, draw.box, frame, feather),
    record: result.record,
    pixels: result.pixels,
    bytes: result.png,
    mediaType: "image/png",
    sha256: sha256Of(result.png),
    files: [],
    // the full-frame PNG encode is the insertion's last step, inside its time
    timings: { generateMs: result.timings.totalMillis, onnxMs: result.timings.onnxMillis, encodeMs: 0 },
  };
}

/**
 * Ground truth in frame pixels; `image` names the frame's size, which exports and galleries scale by, and `changed`
 * the only pixels that differ from the source frame (the box and its band, clipped): detections elsewhere are the
 * frame's own objects.
 */
export function frameLabels(hazardClass: string, box: FrameBox, frame: { width: number; height: number }, feather: number): GroundTruth & { image: { width: number; height: number }; changed: FrameBox[] } {
  const x = Math.max(0, box.x - feather);
  const y = Math.max(0, box.y - feather);
  const changed = { x, y, width: Math.min(frame.width, box.x + box.width + feather) - x, height: Math.min(frame.height, box.y + box.height + feather) - y };
  return {
    boxes: [
      {
        class: hazardClass,
        ...box,
        fraction: { cx: (box.x + box.width / 2) / frame.width, cy: (box.y + box.height / 2) / frame.height, w: box.width / frame.width, h: box.height / frame.height },
      },
    ],
    masks: [],
    image: { width: frame.width, height: frame.height },
    changed: [changed],
  };
}

/** The record's hazard insertion entry (what reproduction reads back). */
interface RecordedInsertion {
  frame: { sha256: string; width: number; height: number };
  box: FrameBox;
  feather: number;
  [extra: string]: unknown;
}

/** Keys insertHazardIntoFrame writes into the entry itself; the rest came in as its extras. */
const INSERTION_KEYS = new Set(["frame", "box", "cropWindow", "scale", "feather", "colourMatch"]);

/**
 * Makes a frame sample again from its record: the frame by its sha256 from the store, the recorded box, condition,
 * sampler, seed, index, feather and provider, and the record's extras in their order, so the same bytes come out.
 */
export async function reproduceFrameSample(record: GenerationRecord, options: { modelsDir: string; readFrame: (sha256: string) => Promise<Uint8Array>; maxImagePixels: number; intraOpThreads?: number }): Promise<Reproduction> {
  const insertion = record["hazardInsertion"] as RecordedInsertion;
  const model = await loadModelPackageAsync(resolveModelDir(record.model.name, options.modelsDir));
  for (const [file, hash] of Object.entries(record.model.fileHashes))
    if (model.fileHashes[file] !== hash || model.manifest.version !== record.model.version) throw new ReproductionError(`model ${record.model.name} has changed since the sample was made (${file})`);
  const frame = decodeCameraFrame(await options.readFrame(insertion.frame.sha256), options.maxImagePixels);
  const { hazardInsertion: _entry, ...sampleExtras } = recordExtras(record);
  const runtime = await openModelRuntime(model, { ep: record.executionProvider as ExecutionProviderName, ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}) });
  try {
    const result = await insertHazardIntoFrame({
      frame,
      frameSha256: insertion.frame.sha256,
      box: insertion.box,
      parameters: record.parameters as ScenarioParameters,
      model,
      runtime,
      settings: { sampler: record.sampler as SamplerName, steps: record.steps, guidance: record.guidance, ...(typeof record.eta === "number" ? { eta: record.eta } : {}), seed: record.seed, executionProvider: record.executionProvider as ExecutionProviderName, batchSize: 1 },
      feather: insertion.feather,
      index: record.index,
      sampleExtras,
      recordExtras: Object.fromEntries(Object.entries(insertion).filter(([key]) => !INSERTION_KEYS.has(key))),
    });
    return { sha256: sha256Of(result.png), bytes: result.png, mediaType: "image/png", files: [], record: result.record };
  } finally {
    await runtime.dispose();
  }
}
