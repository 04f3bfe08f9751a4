// Realism gate: the domain's fidelity critic (critic.json + ONNX) reads a generated sample back into the
// model's condition layout; the sample is valid when what the critic sees is what was requested —
// categorical attributes equal, the object's box where it was asked for, other scalars close enough.
// Judging is a pure function of the critic's output so thresholds can be tuned without re-running it.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createSession, type ExecutionProviderName } from "../runtime/index.ts";
import { resizeBilinear, toModelSpace, type DecodedImage } from "../imaging/index.ts";
import { ModelPackageError, verifyPackageFiles } from "../models/index.ts";
import type { ParameterValue } from "../scenarios/index.ts";
import { iou, type PixelBox } from "./boxes.ts";
import { DetectorPackageError } from "./errors.ts";
import { criticManifestSchema, formatIssues, type CriticLook, type CriticManifest } from "./manifest.ts";

/** What the critic read from one sample, decoded with each field's rule. */
export interface CriticPrediction {
  readonly values: Readonly<Record<string, ParameterValue>>;
  /** Softmax probability of the predicted value, per categorical field. */
  readonly probabilities: Readonly<Record<string, number>>;
  /** Softmax probability of every value, per categorical field. */
  readonly distributions: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /**
   * What the critic's look (critic.json `look`) names where the gate reads it (lookPlace): the probability of every
   * value of the class field there. Present when the critic has a look and an object was requested (read at the
   * requested place), or with look.confirm when none was but the critic names one (read at the critic's box).
   */
  readonly look?: Readonly<Record<string, number>>;
}

/**
 * What the gate checks. A critic with a calibrated gate (critic.json `gate`) brings its own box and categorical
 * floors; setting minBoxIoU or minProbability here replaces them with one uniform rule.
 */
export interface RealismThresholds {
  /** Minimum IoU between the requested and the critic's box (when an object was requested). Default: the critic's
   *  calibrated floor for the requested class, else 0.3. */
  readonly minBoxIoU: number;
  /** Minimum softmax probability the critic must give a categorical value for it to count as seen: with it, a field
   *  is refused whenever the critic's most likely value is not the requested one. Default: the critic's calibrated
   *  rule (refused when the requested value's probability is below its floor), else 0 with the argmax rule. */
  readonly minProbability: number;
  /** Allowed |predicted - requested| for scalar fields outside the box, as a fraction of the field's range. Default: the
   *  critic's calibrated tolerance for the field, else 0.25. */
  readonly scalarTolerance: number;
  /** Fields not to check (e.g. an attribute the critic is known to read poorly). */
  readonly ignore: readonly string[];
}

export const DEFAULT_REALISM_THRESHOLDS: RealismThresholds = { minBoxIoU: 0.3, minProbability: 0, scalarTolerance: 0.25, ignore: [] };

export interface RealismReason {
  readonly field: string;
  readonly requested: ParameterValue | null;
  readonly seen: ParameterValue | null;
  readonly message: string;
}

export interface RealismVerdict {
  readonly valid: boolean;
  readonly reasons: readonly RealismReason[];
  /** IoU of requested vs seen box; null when no object was requested. */
  readonly boxIoU: number | null;
  readonly prediction: CriticPrediction;
}

type CriticLayout = Pick<CriticManifest, "fields" | "box" | "output"> & Partial<Pick<CriticManifest, "gate" | "look">>;

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((s, e) => s + e, 0);
  return exps.map((e) => e / total);
}

/** The look's logits as the probability of every value of its field. */
export function decodeLookOutput(look: Pick<CriticLook, "values">, logits: ArrayLike<number>): Record<string, number> {
  if (logits.length < look.values.length) throw new DetectorPackageError("unexpected-output-layout", `critic look output has ${logits.length} values, expected ${look.values.length}`);
  const p = softmax(Array.from({ length: look.values.length }, (_, i) => logits[i] as number));
  return Object.fromEntries(look.values.map((v, i) => [v, p[i] as number]));
}

/** The mean of distributions over the same values (the first's). */
function meanOf(distributions: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const first = distributions[0] as Readonly<Record<string, number>>;
  return Object.fromEntries(Object.keys(first).map((value) => [value, distributions.reduce((s, d) => s + (d[value] ?? 0), 0) / distributions.length]));
}

/**
 * The class reading where an object was requested: the whole-frame critic's and the look's distributions mixed
 * geometrically, p ~ critic^(1 - weight) * look^weight, over the look's values (training/look.py combine).
 */
export function combineLook(critic: Readonly<Record<string, number>> | undefined, look: Readonly<Record<string, number>>, weight: number): Record<string, number> {
  const logOf = (p: number | undefined) => Math.log(Math.max(p ?? 0, 1e-12));
  const mixed = Object.entries(look).map(([value, p]) => [value, Math.exp((1 - weight) * logOf(critic?.[value]) + weight * logOf(p))] as const);
  const total = mixed.reduce((s, [, m]) => s + m, 0);
  return Object.fromEntries(mixed.map(([value, m]) => [value, m / total]));
}

/** A move of the look's window, in pixels of the critic's input: [dx, dy]. */
export type LookShift = readonly [number, number];

/**
 * The size x size window of a model-space image ([C, H, W], planar) centred on (cx, cy), fractions of the image,
 * moved by shift: its top-left pixel is floor(c * side - size / 2 + 0.5) + d, and pixels outside the image repeat
 * the nearest edge (training/look.py cuts the same window).
 */
export function lookWindow(image: Float32Array, shape: { channels: number; height: number; width: number }, cx: number, cy: number, size: number, shift: LookShift = [0, 0]): Float32Array {
  const { channels, height, width } = shape;
  const x0 = Math.floor(cx * width - size / 2 + 0.5) + shift[0];
  const y0 = Math.floor(cy * height - size / 2 + 0.5) + shift[1];
  const out = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < size; y++) {
      const row = Math.min(height - 1, Math.max(0, y0 + y));
      for (let x = 0; x < size; x++) out[(c * size + y) * size + x] = image[(c * height + row) * width + Math.min(width - 1, Math.max(0, x0 + x))] as number;
    }
  return out;
}

/** A look input ([C, size, size] planes) mirrored left to right: each row of every channel reversed. */
export function mirrorLookInput(input: Float32Array, size: number): Float32Array {
  const out = new Float32Array(input.length);
  for (let row = 0; row < input.length / size; row++) {
    for (let x = 0; x < size; x++) out[row * size + x] = input[row * size + size - 1 - x] as number;
  }
  return out;
}

/**
 * What the look sees at (cx, cy), its window moved by shift: the window ([C, window, window], lookWindow) and, where
 * the look has a context, the context x context window on the same centre (moved with it) average-pooled to
 * window x window, as C more channels (training/look.py look_input).
 */
export function lookInput(image: Float32Array, shape: { channels: number; height: number; width: number }, cx: number, cy: number, look: Pick<CriticLook, "window" | "context">, shift: LookShift = [0, 0]): Float32Array {
  const size = look.window;
  const near = lookWindow(image, shape, cx, cy, size, shift);
  if (look.context === undefined) return near;
  const factor = look.context / size;
  const wide = lookWindow(image, shape, cx, cy, look.context, shift);
  const out = new Float32Array(2 * near.length);
  out.set(near);
  const { channels } = shape;
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++)
          for (let dx = 0; dx < factor; dx++) sum += wide[(c * look.context + y * factor + dy) * look.context + x * factor + dx] as number;
        out[near.length + (c * size + y) * size + x] = sum / (factor * factor);
      }
  return out;
}

/** Categorical slots are logits (argmax = value); scalar slots are 0..1 and map onto the field's range. */
export function decodeCriticOutput(layout: CriticLayout, vector: ArrayLike<number>): CriticPrediction {
  if (vector.length < layout.output.width) throw new DetectorPackageError("unexpected-output-layout", `critic output has ${vector.length} values, expected ${layout.output.width}`);
  const values: Record<string, ParameterValue> = {};
  const probabilities: Record<string, number> = {};
  const distributions: Record<string, Record<string, number>> = {};
  for (const field of layout.fields) {
    if (field.kind === "categorical") {
      const logits = Array.from({ length: field.values.length }, (_, i) => vector[field.offset + i] as number);
      const p = softmax(logits);
      const best = logits.indexOf(Math.max(...logits));
      values[field.name] = field.values[best] as string;
      probabilities[field.name] = p[best] as number;
      distributions[field.name] = Object.fromEntries(field.values.map((v, i) => [v, p[i] as number]));
    } else {
      const [lo, hi] = field.range;
      values[field.name] = lo + (vector[field.offset] as number) * (hi - lo);
    }
  }
  return { values, probabilities, distributions };
}

/** Where the gate reads the critic's look: a box and its centre (fractions of the image), and whose box it is. */
export interface LookPlace {
  readonly box: PixelBox;
  readonly centre: readonly [number, number];
  readonly at: "requested" | "critic";
}

/**
 * Where the gate reads the look for a request: the requested object's box; where no object was requested, with
 * look.confirm, the box the critic sees (seen: its decoded values) where it names an object; else null (no look, or
 * the class is read from the whole frame).
 */
export function lookPlace(layout: CriticLayout, seen: Readonly<Record<string, ParameterValue>>, requested: Readonly<Record<string, ParameterValue>>): LookPlace | null {
  const rule = layout.box;
  if (!rule || !layout.look) return null;
  const placeOf = (values: Readonly<Record<string, ParameterValue>>, at: LookPlace["at"]): LookPlace | null => {
    const box = objectBox(rule, values);
    const centre = [Number(values[rule.cx]), Number(values[rule.cy])] as const;
    return box && [box.x, box.y, box.width, box.height, ...centre].every(Number.isFinite) ? { box, centre, at } : null;
  };
  if (!rule.absentWhen.includes(String(requested[rule.class]))) return placeOf(requested, "requested");
  return layout.look.confirm ? placeOf(seen, "critic") : null;
}

/**
 * The class field as the gate reads it where it reads the critic's look (lookPlace): the look's reading there, with
 * the whole frame's in the share the look's weight for that box (lookWeight) leaves it. Undefined where the gate
 * reads the class from the whole frame.
 */
export function readingAtPlace(layout: CriticLayout, prediction: CriticPrediction, requested: Readonly<Record<string, ParameterValue>>): Record<string, number> | undefined {
  const place = lookPlace(layout, prediction.values, requested);
  if (!place || !prediction.look || !layout.box || !layout.look) return undefined;
  return combineLook(prediction.distributions[layout.box.class], prediction.look, lookWeight(layout.look, place.box));
}

/**
 * The look's share of the class reading for the box it reads (fractions of the image; null: none): the first of
 * look.bySize's bands the box's longer side is under, else look.weight (training/look.py weights_for).
 */
export function lookWeight(look: Pick<CriticLook, "weight" | "bySize">, box: PixelBox | null): number {
  if (!box || !look.bySize) return look.weight;
  const longer = Math.max(box.width, box.height);
  return look.bySize.find((band) => longer < band.below)?.weight ?? look.weight;
}

/** What the gate reads for each field: the critic's values, with the class read where the gate reads the look (lookPlace). */
export function seenValues(layout: CriticLayout, prediction: CriticPrediction, requested: Readonly<Record<string, ParameterValue>>): Readonly<Record<string, ParameterValue>> {
  const atPlace = readingAtPlace(layout, prediction, requested);
  return atPlace && layout.box ? { ...prediction.values, [layout.box.class]: mostLikely(atPlace) } : prediction.values;
}

function mostLikely(distribution: Readonly<Record<string, number>>): string {
  return Object.entries(distribution).reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
}

/** The object's box (fractions of the image, as a PixelBox on a unit image) from parameters, or null when absent. */
function objectBox(rule: NonNullable<CriticLayout["box"]>, values: Readonly<Record<string, ParameterValue>>): PixelBox | null {
  if (rule.absentWhen.includes(String(values[rule.class]))) return null;
  const num = (name: string) => Number(values[name]);
  if (rule.kind === "box") return { x: num(rule.cx) - num(rule.w) / 2, y: num(rule.cy) - num(rule.h) / 2, width: num(rule.w), height: num(rule.h) };
  // circle radius is a fraction of the width; on square model images the bounding square is 2r by 2r
  const r = num(rule.radius);
  return { x: num(rule.cx) - r, y: num(rule.cy) - r, width: 2 * r, height: 2 * r };
}

export function judgeRealism(
  layout: CriticLayout,
  prediction: CriticPrediction,
  requested: Readonly<Record<string, ParameterValue>>,
  thresholds: Partial<RealismThresholds> = {},
): RealismVerdict {
  const t = { ...DEFAULT_REALISM_THRESHOLDS, ...thresholds };
  // the critic's calibrated floors apply unless the caller set a uniform rule
  const gate = layout.gate;
  const floorOf = (field: string, value: ParameterValue): number | undefined => (thresholds.minProbability === undefined ? gate?.fields[field]?.[String(value)] : undefined);
  const reasons: RealismReason[] = [];
  const boxFields = new Set(layout.box ? (layout.box.kind === "box" ? [layout.box.cx, layout.box.cy, layout.box.w, layout.box.h] : [layout.box.cx, layout.box.cy, layout.box.radius]) : []);
  const objectAbsent = layout.box ? layout.box.absentWhen.includes(String(requested[layout.box.class])) : false;
  const atPlace = readingAtPlace(layout, prediction, requested);
  for (const field of layout.fields) {
    if (t.ignore.includes(field.name) || !(field.name in requested)) continue;
    const want = requested[field.name] as ParameterValue;
    const look = field.name === layout.box?.class ? atPlace : undefined;
    const seen = look ? mostLikely(look) : (prediction.values[field.name] ?? null);
    if (field.kind === "categorical") {
      const distribution = look ?? prediction.distributions[field.name];
      const probability = look ? (look[String(seen)] ?? 0) : (prediction.probabilities[field.name] ?? 0);
      const sees = !look ? `the critic sees ${seen}` : objectAbsent ? `at the object the critic claims, it and its look see ${seen}` : `at the requested place the critic sees ${seen}`;
      const floor = floorOf(field.name, want);
      if (floor !== undefined) {
        const ofWanted = distribution?.[String(want)] ?? 0;
        if (ofWanted < floor)
          reasons.push({ field: field.name, requested: want, seen, message: `${field.name}: requested ${want}, ${sees} (p ${probability.toFixed(2)}) and gives ${want} p ${ofWanted.toFixed(3)}, below its calibrated floor ${floor}` });
      } else if (seen !== want) reasons.push({ field: field.name, requested: want, seen, message: `${field.name}: requested ${want}, ${sees} (p ${probability.toFixed(2)})` });
      else if (probability < t.minProbability)
        reasons.push({ field: field.name, requested: want, seen, message: `${field.name}: ${want} seen with probability ${probability.toFixed(2)} < ${t.minProbability}` });
    } else if (!boxFields.has(field.name) && !objectAbsent) {
      const [lo, hi] = field.range;
      const error = Math.abs(Number(seen) - Number(want)) / (hi - lo);
      // the calibrated tolerance: one for every class, or the requested class's
      const calibrated = gate?.scalarTolerance[field.name];
      const ofClass = typeof calibrated === "object" ? (layout.box ? calibrated[String(requested[layout.box.class])] : undefined) : calibrated;
      const tolerance = thresholds.scalarTolerance ?? ofClass ?? t.scalarTolerance;
      if (error > tolerance)
        reasons.push({ field: field.name, requested: want, seen, message: `${field.name}: requested ${Number(want).toFixed(3)}, the critic reads ${Number(seen).toFixed(3)} (off by ${(error * 100).toFixed(0)} % of the range)` });
    }
  }
  let boxIoU: number | null = null;
  if (layout.box && !t.ignore.includes("box")) {
    const wanted = objectBox(layout.box, requested);
    if (wanted) {
      const calibrated = thresholds.minBoxIoU === undefined ? gate?.boxMinIoU[String(requested[layout.box.class])] : undefined;
      // a calibrated floor reads the critic's box as the requested class's and holds whenever the critic sees an
      // object: an object it sees must be where it was asked. When it sees none there is no box to compare (whether
      // the object is there at all is the class floor's question). The uniform rule has no box then: IoU 0.
      const seesObject = !layout.box.absentWhen.includes(String(prediction.values[layout.box.class]));
      const seenBox = objectBox(layout.box, calibrated !== undefined ? { ...prediction.values, [layout.box.class]: requested[layout.box.class] as ParameterValue } : prediction.values);
      boxIoU = seenBox ? iou(wanted, seenBox) : 0;
      const floor = calibrated ?? t.minBoxIoU;
      if (boxIoU < floor && (calibrated === undefined || seesObject))
        reasons.push({ field: "box", requested: null, seen: null, message: `object box IoU ${boxIoU.toFixed(2)} with the request is below ${calibrated !== undefined ? `its calibrated floor ${floor}` : floor}` });
    }
  }
  return { valid: reasons.length === 0, reasons, boxIoU, prediction };
}

export interface Critic {
  readonly manifest: CriticManifest;
  readonly onnxPath: string;
  readonly fileHashes: Readonly<Record<string, string>>;
  /**
   * Reads a batch of samples: model-space tensors [C*H*W] (as the diffusion model produced them) or decoded images.
   * With each sample's requested parameters, a critic with a look also reads the requested object's place.
   */
  predict(samples: readonly (Float32Array | DecodedImage)[], requested?: readonly Readonly<Record<string, ParameterValue>>[]): Promise<CriticPrediction[]>;
  /** Predicts and judges each sample against its requested parameters. */
  judge(samples: readonly (Float32Array | DecodedImage)[], requested: readonly Readonly<Record<string, ParameterValue>>[], thresholds?: Partial<RealismThresholds>): Promise<RealismVerdict[]>;
  dispose(): Promise<void>;
}

export interface LoadCriticOptions {
  ep?: ExecutionProviderName;
  intraOpThreads?: number;
  log?: (message: string) => void;
}

export function readCriticManifest(dir: string): { manifest: CriticManifest; fileHashes: Record<string, string> } {
  const path = join(dir, "critic.json");
  if (!existsSync(path)) throw new DetectorPackageError("not-found", `no critic.json in ${dir}`, dir);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new DetectorPackageError("invalid-manifest", `${path} is not valid JSON: ${(error as Error).message}`, dir);
  }
  const parsed = criticManifestSchema.safeParse(raw);
  if (!parsed.success) throw new DetectorPackageError("invalid-manifest", `invalid critic.json in ${dir}: ${formatIssues(parsed.error)}`, dir);
  try {
    return { manifest: parsed.data, fileHashes: verifyPackageFiles(dir, parsed.data.files) };
  } catch (error) {
    if (error instanceof ModelPackageError) throw new DetectorPackageError("invalid-manifest", error.message, dir);
    throw error;
  }
}

export async function loadCritic(dir: string, options: LoadCriticOptions = {}): Promise<Critic> {
  const absolute = resolve(dir);
  const { manifest, fileHashes } = readCriticManifest(absolute);
  const onnxPath = join(absolute, manifest.file);
  const sessionOptions = {
    ep: options.ep ?? "cpu",
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.log ? { log: options.log } : {}),
  } as const;
  const session = await createSession(onnxPath, sessionOptions);
  const lookPath = manifest.look ? join(absolute, manifest.look.file) : null;
  const lookSession = lookPath ? await createSession(lookPath, sessionOptions) : null;
  const { width, height, channels, valueRange } = manifest.input;
  const plane = width * height * channels;
  const toInput = (sample: Float32Array | DecodedImage): Float32Array => {
    if (sample instanceof Float32Array) {
      if (sample.length !== plane) throw new DetectorPackageError("invalid-image", `critic ${manifest.name} takes ${channels}x${height}x${width} = ${plane} values, got ${sample.length}`);
      return sample;
    }
    return toModelSpace(resizeBilinear(sample, width, height), channels, valueRange);
  };
  /** The look's reading at each of places (lookPlace; null: not read): the mean over look.shifts, each read
   *  mirrored too with look.mirror, all in one batch. */
  const lookAt = async (inputs: readonly Float32Array[], places: readonly (LookPlace | null)[]): Promise<Map<number, Record<string, number>>> => {
    const look = manifest.look;
    const read = new Map<number, Record<string, number>>();
    const asked = places.flatMap((place, k) => (place ? [k] : []));
    if (!lookSession || !look || asked.length === 0) return read;
    const size = look.window;
    const centre = (k: number) => (places[k] as LookPlace).centre;
    // per asked place: its windows at every shift, then (look.mirror) the same mirrored
    const direct = asked.flatMap((k) => look.shifts.map((shift) => lookInput(inputs[k] as Float32Array, { channels, height, width }, ...centre(k), look, shift)));
    const cuts = look.mirror ? [...direct, ...direct.map((cut) => mirrorLookInput(cut, size))] : direct;
    const windowPlane = (cuts[0] as Float32Array).length;
    const batch = new Float32Array(windowPlane * cuts.length);
    cuts.forEach((cut, j) => batch.set(cut, j * windowPlane));
    const outputs = await lookSession.run({ [look.input]: { type: "float32", data: batch, dims: [cuts.length, windowPlane / (size * size), size, size] } });
    const output = outputs[look.output];
    const n = look.values.length;
    if (!output || output.dims[1] !== n) {
      throw new DetectorPackageError("unexpected-output-layout", `critic look ${look.file} returned ${output ? `[${output.dims.join(", ")}]` : "nothing"} for "${look.output}", expected [batch, ${n}]`, lookPath ?? onnxPath);
    }
    const decoded = (j: number) => decodeLookOutput(look, output.data.subarray(j * n, (j + 1) * n));
    const shifts = look.shifts.length;
    asked.forEach((k, j) => {
      const mine = Array.from({ length: shifts }, (_, s) => j * shifts + s);
      read.set(k, meanOf((look.mirror ? [...mine, ...mine.map((i) => direct.length + i)] : mine).map(decoded)));
    });
    return read;
  };
  const predict = async (samples: readonly (Float32Array | DecodedImage)[], requested?: readonly Readonly<Record<string, ParameterValue>>[]): Promise<CriticPrediction[]> => {
    if (samples.length === 0) return [];
    if (requested && requested.length !== samples.length) throw new DetectorPackageError("invalid-image", `predict needs one requested parameter set per sample (${samples.length} samples, ${requested.length} sets)`);
    const inputs = samples.map(toInput);
    const batch = new Float32Array(plane * samples.length);
    inputs.forEach((input, i) => batch.set(input, i * plane));
    const outputs = await session.run({ [manifest.input.name]: { type: "float32", data: batch, dims: [samples.length, channels, height, width] } });
    const output = outputs[manifest.output.name];
    if (!output || output.dims[1] !== manifest.output.width) {
      throw new DetectorPackageError("unexpected-output-layout", `critic ${onnxPath} returned ${output ? `[${output.dims.join(", ")}]` : "nothing"} for "${manifest.output.name}", expected [batch, ${manifest.output.width}]`, onnxPath);
    }
    const w = manifest.output.width;
    const predictions = samples.map((_, i) => decodeCriticOutput(manifest, output.data.subarray(i * w, (i + 1) * w)));
    if (!requested) return predictions;
    const looked = await lookAt(inputs, predictions.map((p, i) => lookPlace(manifest, p.values, requested[i] as Readonly<Record<string, ParameterValue>>)));
    return predictions.map((prediction, i) => {
      const look = looked.get(i);
      return look ? { ...prediction, look } : prediction;
    });
  };
  return {
    manifest,
    onnxPath,
    fileHashes,
    predict,
    async judge(samples, requested, thresholds) {
      if (requested.length !== samples.length) throw new DetectorPackageError("invalid-image", `judge needs one requested parameter set per sample (${samples.length} samples, ${requested.length} sets)`);
      const predictions = await predict(samples, requested);
      return predictions.map((p, i) => judgeRealism(manifest, p, requested[i] as Readonly<Record<string, ParameterValue>>, thresholds));
    },
    async dispose() {
      await session.dispose();
      await lookSession?.dispose();
    },
  };
}
