// Sampling-time feedback on a scalar control (docs/model-package.md, "Feedback"): a meter reads the value a step's
// x0 estimate shows inside the labelled circle, and the circle's deviation from its surrounding tissue is scaled
// toward the request. A calibration map corrects the mean of what the model draws; feedback narrows its spread.
// training/rareforge_train/served.py (feedback_x0) is the same rule; test/diffusion/feedback.test.ts holds the two together.
import { ModelPackageError, type ModelManifest, type ScalarFeedback, type ScenarioParameters } from "../models/index.ts";
import type { HeldRecord } from "../provenance/index.ts";
import type { OnnxSession } from "../runtime/index.ts";
import { alphasCumprod, makeBetas, predictX0Eps } from "./schedulers/common.ts";

/** The ring's median and a read value are floored here before dividing by them. */
const LEVEL_FLOOR = 0.05;

export interface Circle {
  cx: number;
  cy: number;
  radius: number;
}

/** Each pixel's distance from the circle's centre in radii; pixel centres at ((i + 0.5) / width), as the renderer places them. */
export function circleDistances(size: number, circle: Circle): Float64Array {
  const d = new Float64Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      d[y * size + x] = Math.hypot((x + 0.5) / size - circle.cx, (y + 0.5) / size - circle.cy) / circle.radius;
    }
  }
  return d;
}

/** numpy.percentile's default (linear) of ascending-sorted values. */
function percentileSorted(sorted: Float64Array, q: number): number {
  const position = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] ?? 0) + (position - lo) * ((sorted[hi] ?? 0) - (sorted[lo] ?? 0));
}

/** The median of the ring of tissue around the circle (the image's mean when the ring holds no pixel). */
export function ringLevel(image: Float32Array, size: number, circle: Circle, ring: readonly [number, number], d = circleDistances(size, circle)): number {
  const values: number[] = [];
  for (let i = 0; i < d.length; i++) if ((d[i] ?? 0) > ring[0] && (d[i] ?? 0) < ring[1]) values.push(image[i] ?? 0);
  if (values.length === 0) return image.reduce((a, b) => a + b, 0) / image.length;
  return percentileSorted(Float64Array.from(values).sort(), 50);
}

/** Bilinear sample at pixel coordinates (centres at integers), edges clamped, as served.bilinear. */
function bilinear(image: Float32Array, size: number, px: number, py: number): number {
  const xs = Math.min(Math.max(px, 0), size - 1);
  const ys = Math.min(Math.max(py, 0), size - 1);
  const x0 = Math.min(Math.trunc(xs), size - 2);
  const y0 = Math.min(Math.trunc(ys), size - 2);
  const fx = xs - x0;
  const fy = ys - y0;
  const at = (x: number, y: number) => image[y * size + x] ?? 0;
  return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
}

/** The meter's input for one square image in 0..1 (the feature recipe of kind "circle-contrast"). */
export function meterFeatures(image: Float32Array, size: number, circle: Circle, classIndex: number, spec: ScalarFeedback, level = ringLevel(image, size, circle, spec.ring)): Float32Array {
  const divisor = Math.max(level, LEVEL_FLOOR);
  const { samples, halfWidth } = spec.window;
  const out = new Float32Array(samples * samples + 2 + spec.classes.length + spec.tissueQuantiles.length);
  let k = 0;
  for (let row = 0; row < samples; row++) {
    const ty = -halfWidth + (2 * halfWidth * row) / (samples - 1);
    for (let col = 0; col < samples; col++) {
      const tx = -halfWidth + (2 * halfWidth * col) / (samples - 1);
      const px = (circle.cx + tx * circle.radius) * size - 0.5;
      const py = (circle.cy + ty * circle.radius) * size - 0.5;
      out[k++] = bilinear(image, size, px, py) / divisor - 1;
    }
  }
  out[k++] = circle.radius / spec.radiusScale;
  out[k++] = level;
  spec.classes.forEach((_, c) => (out[k++] = c === classIndex ? 1 : 0));
  const tissue = Float64Array.from(image.filter((v) => v > spec.tissueFloor)).sort();
  for (const q of spec.tissueQuantiles) out[k++] = tissue.length > 0 ? percentileSorted(tissue, q) / divisor : 0;
  return out;
}

/**
 * The x0 estimate (0..1) with the circle's deviation from `level` scaled by k: 1 inside the circle, falling to 0 over
 * `feather` radii past it.
 */
export function scaleCircle(image: Float32Array, size: number, circle: Circle, level: number, k: number, feather: number, d = circleDistances(size, circle)): Float32Array {
  return image.map((v, i) => {
    const weight = Math.min(Math.max((1 + feather - (d[i] ?? 0)) / feather, 0), 1);
    return level + (v - level) * (1 + (k - 1) * weight);
  });
}

/** The factor a read value asks for: (requested / read) ^ strength, clamped to [1 / maxRatio, maxRatio] first. */
export function feedbackFactor(requested: number, read: number, spec: ScalarFeedback): number {
  const ratio = Math.min(Math.max(requested / Math.max(read, LEVEL_FLOOR), 1 / spec.maxRatio), spec.maxRatio);
  return ratio ** spec.strength;
}

/** One sample the feedback holds: where its circle is, its class's index among the meter's, what was requested. */
interface HeldSample {
  index: number;
  circle: Circle;
  classIndex: number;
  requested: number;
}

/** The scalar fields with feedback, and per field the samples of the batch it holds (class among its `holds`, else its classes). */
export function feedbackTargets(manifest: ModelManifest, parameters: readonly ScenarioParameters[]): { field: string; spec: ScalarFeedback; samples: HeldSample[] }[] {
  const circle = manifest.labels.find((rule) => rule.kind === "circle");
  if (!circle || circle.kind !== "circle") return [];
  const out: { field: string; spec: ScalarFeedback; samples: HeldSample[] }[] = [];
  for (const field of manifest.condition.fields) {
    if (field.kind !== "scalar" || !field.feedback) continue;
    const spec = field.feedback;
    const samples: HeldSample[] = [];
    const held = spec.holds ?? spec.classes;
    parameters.forEach((p, index) => {
      if (!held.includes(String(p[circle.class]))) return;
      const classIndex = spec.classes.indexOf(String(p[circle.class]));
      const [cx, cy, radius, requested] = [p[circle.cx], p[circle.cy], p[circle.radius], p[field.name]];
      if (classIndex < 0 || typeof cx !== "number" || typeof cy !== "number" || typeof radius !== "number" || typeof requested !== "number") return;
      samples.push({ index, circle: { cx, cy, radius }, classIndex, requested });
    });
    if (samples.length > 0) out.push({ field: field.name, spec, samples });
  }
  return out;
}

/** What a sample's provenance record keeps of the feedback that holds it (empty when none does): per field, the request
 * and how it was held. `fileHashes`: the package's, for the meter's sha256. */
export function heldRecord(manifest: ModelManifest, fileHashes: Readonly<Record<string, string>>, parameters: ScenarioParameters): Record<string, HeldRecord> {
  const out: Record<string, HeldRecord> = {};
  for (const { field, spec, samples } of feedbackTargets(manifest, [parameters])) {
    const { kind, meter, fromStep, strength, maxRatio, feather } = spec;
    out[field] = { requested: samples[0]!.requested, kind, meterSha256: fileHashes[meter] ?? "", fromStep, strength, maxRatio, feather };
  }
  return out;
}

/** alpha-bar at a (possibly fractional) timestep: sigma interpolated linearly between training steps, as Euler reads it. */
function alphaBarAt(alphas: Float64Array, t: number): number {
  const sigma = (j: number) => Math.sqrt((1 - (alphas[j] ?? 1)) / (alphas[j] ?? 1));
  const j = Math.min(Math.max(Math.floor(t), 0), alphas.length - 1);
  const s = j + 1 < alphas.length ? sigma(j) + (t - j) * (sigma(j + 1) - sigma(j)) : sigma(j);
  return 1 / (1 + s * s);
}

/** A model output rewritten so its x0 estimate moves by `x0Delta` (same x_t, same prediction type). */
function outputWithX0(prediction: "epsilon" | "v", modelInput: Float32Array, output: Float32Array, a: number, x0Delta: Float32Array): Float32Array {
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  return output.map((o, i) => {
    const x = modelInput[i] ?? 0;
    const x0 = predictX0Eps(prediction, o, x, a)[0] + (x0Delta[i] ?? 0);
    const eps = (x - sa * x0) / sb;
    return prediction === "v" ? sa * eps - sb * x0 : eps;
  });
}

export type Refine = (modelInput: Float32Array, output: Float32Array, t: number, step: number, steps: number) => Promise<Float32Array>;

/**
 * The loop's refine hook for a batch, or null when no field's feedback applies to any of its samples. `meters`: per
 * field with feedback, its meter's session.
 */
export function createFeedback(manifest: ModelManifest, meters: ReadonlyMap<string, OnnxSession>, parameters: readonly ScenarioParameters[], dir: string): Refine | null {
  const targets = feedbackTargets(manifest, parameters);
  if (targets.length === 0) return null;
  const size = manifest.image.width;
  const n = size * manifest.image.height;
  const [lo, hi] = manifest.image.valueRange;
  const { prediction } = manifest.denoiser;
  const alphas = alphasCumprod(makeBetas(manifest.denoiser.schedule));
  // each held circle's distance map, once for the batch's steps
  const distances = targets.map(({ samples }) => samples.map((s) => circleDistances(size, s.circle)));
  return async (modelInput, output, t, step, steps) => {
    const a = alphaBarAt(alphas, t);
    const delta = new Float32Array(output.length);
    let moved = false;
    for (const [k, { field, spec, samples }] of targets.entries()) {
      if (step < spec.fromStep * steps) continue;
      const meter = meters.get(field);
      if (!meter) throw new ModelPackageError("invalid-manifest", `no meter session for "${field}"'s feedback`, dir);
      const distance = distances[k]!;
      // 1. each held sample's x0 estimate, clamped to the value range and mapped to 0..1
      const images = samples.map(({ index }) =>
        output.slice(index * n, (index + 1) * n).map((o, i) => {
          const x0 = predictX0Eps(prediction, o, modelInput[index * n + i] ?? 0, a)[0];
          return (Math.min(Math.max(x0 + (delta[index * n + i] ?? 0), lo), hi) - lo) / (hi - lo);
        }),
      );
      // 2. the meter's reading of each
      const levels = samples.map((s, b) => ringLevel(images[b]!, size, s.circle, spec.ring, distance[b]));
      const features = samples.map((s, b) => meterFeatures(images[b]!, size, s.circle, s.classIndex, spec, levels[b]!));
      const width = features[0]!.length;
      const feeds = new Float32Array(samples.length * width);
      features.forEach((f, b) => feeds.set(f, b * width));
      const result = await meter.run({ [spec.input]: { type: "float32", data: feeds, dims: [samples.length, width] } });
      const read = result[spec.output]?.data;
      if (!read || read.length !== samples.length) {
        throw new ModelPackageError("invalid-manifest", `meter ${spec.meter} gave ${read?.length ?? 0} values for ${samples.length} samples (output "${spec.output}")`, dir);
      }
      // 3. the circle's deviation from its ring scaled toward the request, as a move of x0 in model units
      samples.forEach((s, b) => {
        const image = images[b]!;
        const scaled = scaleCircle(image, size, s.circle, levels[b]!, feedbackFactor(s.requested, read[b] ?? 0, spec), spec.feather, distance[b]);
        for (let i = 0; i < n; i++) delta[s.index * n + i] = (delta[s.index * n + i] ?? 0) + ((scaled[i] ?? 0) - (image[i] ?? 0)) * (hi - lo);
      });
      moved = true;
    }
    return moved ? outputWithX0(prediction, modelInput, output, a, delta) : output;
  };
}
