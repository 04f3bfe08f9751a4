// Deterministic parameter drawing: sample `index` of a request with `seed` gets the same values on any
// machine, in any order of calls, alone or in a loop. Every random number is a pure function of
// (seed, index, parameter name, draw number) — a counter-based generator built on SHA-256 — so there is
// no hidden state to advance.
import { createHash } from "node:crypto";
import type { Distribution, GivenCase, ParameterValue, ScenarioSpec } from "./spec.ts";

export type DrawnParameters = Record<string, ParameterValue>;

/** A uniform double in [0, 1) from 53 bits of SHA-256 over the key. */
export function uniformAt(seed: number | bigint, index: number, stream: string, draw = 0): number {
  const digest = createHash("sha256").update(`rareforge/v1|${seed}|${index}|${stream}|${draw}`).digest();
  const high = digest.readUInt32BE(0) >>> 5; // 27 bits
  const low = digest.readUInt32BE(4) >>> 6; // 26 bits
  return (high * 67108864 + low) / 9007199254740992;
}

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

/** Van der Corput radical inverse of n in the given base (the Halton sequence's coordinate). */
export function radicalInverse(n: number, base: number): number {
  let inverse = 0;
  let fraction = 1 / base;
  let rest = n;
  while (rest > 0) {
    inverse += (rest % base) * fraction;
    rest = Math.floor(rest / base);
    fraction /= base;
  }
  return inverse;
}

/** Standard normal CDF. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Complementary error function: the Chebyshev fit of Numerical Recipes §6.2 (fractional error < 1.2e-7,
 * ample for drawing; the quantile below is refined against it so the two stay consistent). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Inverse standard normal CDF, P. J. Acklam's rational approximation refined by one Halley step. */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Inverse-CDF sampling of N(mean, std²) truncated to [min, max]: exact, one uniform, no rejection loop. */
export function truncatedNormalAt(u: number, mean: number, std: number, min: number, max: number): number {
  const lo = normalCdf((min - mean) / std);
  const hi = normalCdf((max - mean) / std);
  if (hi - lo < 1e-12) return Math.min(max, Math.max(min, mean)); // the whole mass is outside: clamp
  const p = lo + u * (hi - lo);
  const value = mean + std * normalQuantile(Math.min(1 - 1e-16, Math.max(1e-16, p)));
  return Math.min(max, Math.max(min, value));
}

/**
 * Log-density of N(mean, std²) truncated to [min, max] at x (−∞ outside): the normal's density over the mass
 * the truncation keeps, with the same CDF truncatedNormalAt inverts, so the density is that of the draws.
 */
export function truncatedNormalLogDensity(x: number, mean: number, std: number, min: number, max: number): number {
  if (x < min || x > max) return Number.NEGATIVE_INFINITY;
  const kept = normalCdf((max - mean) / std) - normalCdf((min - mean) / std);
  const z = (x - mean) / std;
  return -0.5 * z * z - Math.log(std * Math.sqrt(2 * Math.PI)) - Math.log(kept);
}

/**
 * Log-probability under N(mean, std²) truncated to [min, max] of the cell [lo, hi] (an integer drawn as a rounded
 * normal, the cell of one listed value): log((Φ(hi) − Φ(lo)) / (Φ(max) − Φ(min))).
 */
export function truncatedNormalLogMass(lo: number, hi: number, mean: number, std: number, min: number, max: number): number {
  const cdf = (x: number) => normalCdf((Math.min(max, Math.max(min, x)) - mean) / std);
  return Math.log(cdf(hi) - cdf(lo)) - Math.log(cdf(max) - cdf(min));
}

/**
 * Log-density of a value under the distribution drawParameters draws a parameter from — log-mass for the
 * kinds that draw listed values or integers, log-density for the continuous ones — per kind, next to the draw
 * code it must agree with. A scaled parameter's is its factor's (pass the factor); sweep and halton follow the
 * sample index, so as distributions they are uniform (over the values; over the range); a given parameter has
 * its case's (pass the case). For importance weights (search/nominal.ts).
 */
export function logDensity(d: Exclude<Distribution, { kind: "given" }>, value: ParameterValue): number {
  const impossible = Number.NEGATIVE_INFINITY;
  switch (d.kind) {
    case "fixed":
      return value === d.value ? 0 : impossible;
    case "choice": {
      const weights = d.weights ?? d.values.map(() => 1);
      const total = weights.reduce((a, b) => a + b, 0);
      const mass = d.values.reduce<number>((m, v, i) => (v === value ? m + (weights[i] ?? 0) : m), 0);
      return Math.log(mass / total);
    }
    case "sweep": {
      const count = d.values.filter((v) => v === value).length;
      return Math.log(count / d.values.length);
    }
    case "integer":
      return Number.isInteger(value) && (value as number) >= d.min && (value as number) <= d.max ? -Math.log(d.max - d.min + 1) : impossible;
    case "uniform":
    case "halton":
      return uniformLogDensity(value as number, d.min, d.max);
    case "truncatedNormal":
      return truncatedNormalLogDensity(value as number, d.mean, d.std, d.min, d.max);
    case "scaled":
      return d.mean === undefined || d.std === undefined ? uniformLogDensity(value as number, d.min, d.max) : truncatedNormalLogDensity(value as number, d.mean, d.std, d.min, d.max);
  }
}

function uniformLogDensity(x: number, min: number, max: number): number {
  if (x < min || x > max) return Number.NEGATIVE_INFINITY;
  return max === min ? 0 : -Math.log(max - min);
}

/** The size of the sweep grid (product of swept parameters' value counts); 1 when nothing is swept. */
export function sweepGridSize(spec: Pick<ScenarioSpec, "parameters">): number {
  return Object.values(spec.parameters).reduce((size, d) => (d.kind === "sweep" ? size * d.values.length : size), 1);
}

export function drawParameters(spec: Pick<ScenarioSpec, "parameters">, seed: number | bigint, index: number): DrawnParameters {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`sample index must be a non-negative integer, got ${index}`);
  const drawn: DrawnParameters = {};
  // Sweeps: index → mixed-radix digits, first swept parameter varying fastest; wraps after the whole grid.
  let sweepRest = index;
  let haltonDimension = 0;
  for (const [name, distribution] of Object.entries(spec.parameters) as [string, Distribution][]) {
    const u = () => uniformAt(seed, index, name);
    switch (distribution.kind) {
      case "fixed":
        drawn[name] = distribution.value;
        break;
      case "choice": {
        const weights = distribution.weights ?? distribution.values.map(() => 1);
        const total = weights.reduce((a, b) => a + b, 0);
        let target = u() * total;
        let picked = distribution.values.length - 1;
        for (let i = 0; i < weights.length; i++) {
          target -= weights[i] ?? 0;
          if (target < 0) {
            picked = i;
            break;
          }
        }
        // Zero-weight values are never picked, even at the float edge.
        while ((weights[picked] ?? 0) === 0 && picked > 0) picked--;
        drawn[name] = distribution.values[picked] as ParameterValue;
        break;
      }
      case "uniform":
        drawn[name] = distribution.min + u() * (distribution.max - distribution.min);
        break;
      case "truncatedNormal":
        drawn[name] = truncatedNormalAt(u(), distribution.mean, distribution.std, distribution.min, distribution.max);
        break;
      case "integer":
        drawn[name] = distribution.min + Math.min(distribution.max - distribution.min, Math.floor(u() * (distribution.max - distribution.min + 1)));
        break;
      case "sweep": {
        const radix = distribution.values.length;
        drawn[name] = distribution.values[sweepRest % radix] as ParameterValue;
        sweepRest = Math.floor(sweepRest / radix);
        break;
      }
      case "halton": {
        const base = PRIMES[haltonDimension++ % PRIMES.length] as number;
        // Cranley–Patterson rotation keyed by the seed: a different, equally space-filling set per seed.
        const shifted = (radicalInverse(index + 1, base) + uniformAt(seed, 0, `halton:${name}`)) % 1;
        drawn[name] = distribution.min + shifted * (distribution.max - distribution.min);
        break;
      }
      case "scaled":
        // the factor now (keeps the parameter order); the product once every parameter is drawn
        drawn[name] = drawNumber(distribution, u);
        break;
      case "given":
        drawn[name] = Number.NaN; // holds the parameter's place; drawn below, once the value it depends on is known
        break;
    }
  }
  // A given parameter draws the case for the value of `of` (the spec checks that each value it draws has one).
  const factors = new Map<string, Extract<GivenCase, { kind: "scaled" }>>();
  for (const [name, distribution] of Object.entries(spec.parameters) as [string, Distribution][]) {
    if (distribution.kind === "scaled") factors.set(name, distribution);
    if (distribution.kind !== "given") continue;
    const drawnCase = distribution.cases[String(drawn[distribution.of])];
    if (!drawnCase) throw new RangeError(`${name}: no case for ${distribution.of} "${String(drawn[distribution.of])}"`);
    drawn[name] = drawNumber(drawnCase, () => uniformAt(seed, index, name));
    if (drawnCase.kind === "scaled") factors.set(name, drawnCase);
  }
  for (const [name, factor] of factors) drawn[name] = factor.offset + (drawn[factor.of] as number) * (drawn[name] as number);
  return drawn;
}

/** One number from a distribution that needs no other parameter (a scaled one: its factor). */
function drawNumber(d: GivenCase, u: () => number): number {
  switch (d.kind) {
    case "fixed":
      return d.value;
    case "uniform":
      return d.min + u() * (d.max - d.min);
    case "truncatedNormal":
    case "scaled":
      return d.mean === undefined || d.std === undefined ? d.min + u() * (d.max - d.min) : truncatedNormalAt(u(), d.mean, d.std, d.min, d.max);
  }
}
