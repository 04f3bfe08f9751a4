// A learned failure distribution as a scenario spec (src/scenarios format), so a validation team can
// generate more of what the detector fails on: categorical -> choice with weights, continuous ->
// truncatedNormal, integer -> choice over its values weighted by the normal's mass, fixed -> fixed,
// scaled -> scaled with a truncated normal factor, given -> given with each case's range holding the
// learned position (mean and std scaled into the case's range).
import { validateScenarioSpec, type Distribution, type GivenCase, type ScenarioSpec } from "../scenarios/index.ts";
import type { LearnedDimension, LearnedDistribution } from "./search.ts";
import type { CaseRange } from "./space.ts";

function normalCdf(x: number): number {
  // Abramowitz & Stegun 7.1.26 erf (|error| < 1.5e-7): weights for export only
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return 0.5 * (1 + (x >= 0 ? erf : -erf));
}

const round = (value: number, digits = 4) => Number(value.toFixed(digits));

/** A given dimension's case with the learned position (mean, std over 0..1) carried into the case's range. */
function learnedCase(range: CaseRange, position: Extract<LearnedDimension, { kind: "continuous" }>): GivenCase {
  const width = range.max - range.min;
  if (width === 0) return range.scaled ? { kind: "scaled", ...range.scaled, min: range.min, max: range.max } : { kind: "fixed", value: range.min };
  const fit = { min: range.min, max: range.max, mean: round(range.min + position.mean * width, 6), std: Math.max(1e-6, round(position.std * width, 6)) };
  return range.scaled ? { kind: "scaled", ...range.scaled, ...fit } : { kind: "truncatedNormal", ...fit };
}

export function distributionToScenarioSpec(
  distribution: LearnedDistribution,
  base: Pick<ScenarioSpec, "name" | "domain" | "model"> & Partial<Pick<ScenarioSpec, "tags" | "expectations" | "background">>,
  options: { name?: string; description?: string } = {},
): ScenarioSpec {
  const parameters: Record<string, Distribution> = {};
  for (const d of distribution.dimensions) {
    if (d.kind === "fixed") parameters[d.name] = d.scaled ? { kind: "scaled", ...d.scaled, min: d.value as number, max: d.value as number } : { kind: "fixed", value: d.value };
    else if (d.kind === "continuous" && d.given)
      parameters[d.name] = { kind: "given", of: d.given.of, cases: Object.fromEntries(Object.entries(d.given.cases).map(([value, range]) => [value, learnedCase(range, d)])) };
    else if (d.kind === "continuous" && d.scaled)
      parameters[d.name] = { kind: "scaled", ...d.scaled, min: d.min, max: d.max, mean: round(d.mean, 6), std: round(d.std, 6) };
    else if (d.kind === "categorical") parameters[d.name] = { kind: "choice", values: [...d.values], weights: d.probabilities.map((p) => round(p)) };
    else if (d.integer && d.max - d.min <= 100) {
      const values = Array.from({ length: d.max - d.min + 1 }, (_, i) => d.min + i);
      const mass = values.map((v) => normalCdf((v + 0.5 - d.mean) / d.std) - normalCdf((v - 0.5 - d.mean) / d.std));
      const total = mass.reduce((s, m) => s + m, 0) || 1;
      parameters[d.name] = { kind: "choice", values, weights: mass.map((m) => round(m / total, 6)) };
    } else {
      parameters[d.name] = { kind: "truncatedNormal", min: d.min, max: d.max, mean: round(d.mean, 6), std: round(d.std, 6) };
    }
  }
  const name = options.name ?? `${base.name}-failures`.slice(0, 80).replace(/-+$/, "");
  return validateScenarioSpec({
    name,
    domain: base.domain,
    model: base.model,
    description: options.description ?? `Failure region of ${base.name} learned by the cross-entropy method`,
    tags: [...(base.tags ?? []), "failure-search"].slice(0, 32),
    parameters,
    expectations: base.expectations ?? [],
    // a background scenario's failure region is over the same frames: its placement parameters are searched too
    ...(base.background ? { background: base.background } : {}),
  });
}
