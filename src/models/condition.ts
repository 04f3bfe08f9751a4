// Scenario parameters -> condition vector, exactly as docs/model-package.md's encoding rules say.
import { ConditionError } from "./errors.ts";
import type { ConditionField, ModelManifest } from "./manifest.ts";

/** Drawn scenario parameters: field name -> value (categorical: string, scalar: number). */
export type ScenarioParameters = Readonly<Record<string, string | number>>;

/** Lists every way `parameters` fails to fit the manifest's condition layout (empty when it fits). */
export function conditionIssues(manifest: ModelManifest, parameters: ScenarioParameters): string[] {
  const issues: string[] = [];
  const known = new Set(manifest.condition.fields.map((field) => field.name));
  for (const field of manifest.condition.fields) {
    const value = parameters[field.name];
    if (value === undefined) {
      issues.push(`missing "${field.name}"`);
    } else if (field.kind === "categorical") {
      if (typeof value !== "string" || !field.values.includes(value)) {
        issues.push(`"${field.name}" is ${JSON.stringify(value)}; allowed: ${field.values.join(", ")}`);
      }
    } else {
      const [lo, hi] = field.range;
      if (typeof value !== "number" || !Number.isFinite(value)) {
        issues.push(`"${field.name}" is ${JSON.stringify(value)}, expected a number in [${lo}, ${hi}]`);
      } else if (value < lo || value > hi) {
        issues.push(`"${field.name}" = ${value} is outside [${lo}, ${hi}]`);
      }
    }
  }
  for (const name of Object.keys(parameters)) {
    if (!known.has(name)) issues.push(`unknown parameter "${name}"; the model's fields: ${[...known].join(", ")}`);
  }
  return issues;
}

/** Throws ConditionError listing every issue, when parameters do not fit. */
export function assertParametersFit(manifest: ModelManifest, parameters: ScenarioParameters): void {
  const issues = conditionIssues(manifest, parameters);
  if (issues.length > 0) throw new ConditionError(manifest.name, issues);
}

type ScalarField = Extract<ConditionField, { kind: "scalar" }>;

/** Piecewise-linear through [x, y] points (x increasing), the end points' y beyond them. */
function through(points: ReadonlyArray<readonly [number, number]>, x: number): number {
  const first = points[0]!;
  const last = points[points.length - 1]!;
  if (x <= first[0]) return first[1];
  if (x >= last[0]) return last[1];
  const k = points.findIndex(([px]) => px >= x);
  const [x0, y0] = points[k - 1]!;
  const [x1, y1] = points[k]!;
  return y0 + ((x - x0) / (x1 - x0)) * (y1 - y0);
}

/**
 * The value fed to the model for a requested scalar: the field's calibration map (piecewise-linear between its
 * points, the end points' values beyond them, clamped to the map's encodedRange, else the field's range), or the
 * request itself without one.
 * With `byValue`, the map of the sample's value of that categorical field (e.g. its pathology) when there is one.
 * With `byValue.across`, that value's maps placed along another scalar field (e.g. the lesion radius, at `at`): each
 * is read at the request and the results interpolated linearly by the sample's value of that field (the end maps'
 * results beyond them); a blend of monotone maps is monotone.
 * training/rareforge_train/served.py's calibrated_value is the same rule.
 */
export function calibratedValue(field: ScalarField, requested: number, parameters: ScenarioParameters = {}): number {
  const calibration = field.calibration;
  const byValue = calibration?.byValue;
  const selector = byValue ? parameters[byValue.field] : undefined;
  const across = typeof selector === "string" && byValue?.across ? byValue.across.maps[selector] : undefined;
  const position = across && byValue?.across ? parameters[byValue.across.field] : undefined;
  const points = (typeof selector === "string" ? byValue?.points[selector] : undefined) ?? calibration?.points;
  const [lo, hi] = calibration?.encodedRange ?? field.range;
  let value = requested;
  if (across && typeof position === "number") {
    value = through(across.at.map((at, k) => [at, through(across.points[k]!, requested)] as const), position);
  } else if (points && points.length > 0) value = through(points, requested);
  return Math.min(Math.max(value, lo), hi);
}

/** A calibrated field in a provenance record: requested and fed value, and where the sample's guidance is not the one
 * the map was measured at (its `measuredAt`), that guidance: the map did not measure this sampling. */
export interface CalibratedParameter {
  requested: number;
  encoded: number;
  measuredAtGuidance?: number;
}

/**
 * Per calibrated scalar field, the requested value and the one fed to the model (what a provenance record keeps).
 * `guidance`, the sample's: where the map was measured at another scale, the entry names that scale.
 */
export function calibratedParameters(manifest: ModelManifest, parameters: ScenarioParameters, guidance?: number): Record<string, CalibratedParameter> {
  const out: Record<string, CalibratedParameter> = {};
  for (const field of manifest.condition.fields) {
    const value = parameters[field.name];
    if (field.kind !== "scalar" || !field.calibration || typeof value !== "number") continue;
    const measuredAt = field.calibration.measuredAt?.guidance;
    out[field.name] = {
      requested: value,
      encoded: calibratedValue(field, value, parameters),
      ...(guidance !== undefined && measuredAt !== undefined && measuredAt !== guidance ? { measuredAtGuidance: measuredAt } : {}),
    };
  }
  return out;
}

/**
 * Encodes parameters into the condition vector: categorical one-hot, scalar (v - lo) / (hi - lo) of the calibrated
 * value (calibratedValue: the request itself when the field has no calibration; below 0 or above 1 where the map's
 * encodedRange reaches past the field's range).
 */
export function encodeCondition(manifest: ModelManifest, parameters: ScenarioParameters): Float32Array {
  assertParametersFit(manifest, parameters);
  const vector = new Float32Array(manifest.condition.width);
  for (const field of manifest.condition.fields) {
    const value = parameters[field.name];
    if (field.kind === "categorical") {
      vector[field.offset + field.values.indexOf(value as string)] = 1;
    } else {
      const [lo, hi] = field.range;
      vector[field.offset] = (calibratedValue(field, value as number, parameters) - lo) / (hi - lo);
    }
  }
  return vector;
}

/** The vector used for the unconditional pass of classifier-free guidance. */
export function unconditionalVector(manifest: ModelManifest): Float32Array {
  return Float32Array.from(manifest.condition.unconditional);
}
