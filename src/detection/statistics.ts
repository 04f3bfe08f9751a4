// Miss rates with exact (Clopper-Pearson) binomial confidence intervals, overall and per scenario parameter.
//
// Clopper & Pearson (1934): for x failures in n trials at level 1 - alpha,
//   lower = B^-1(alpha/2; x, n - x + 1)   (0 when x = 0)
//   upper = B^-1(1 - alpha/2; x + 1, n - x)   (1 when x = n)
// where B^-1 is the inverse of the regularized incomplete beta function I_p(a, b).
import type { ParameterValue } from "../scenarios/index.ts";
import { ScoringInputError } from "./errors.ts";
import { isMiss, type Outcome } from "./scoring.ts";

/** ln Γ(z), Lanczos approximation (g = 7, n = 9; Numerical Recipes 3rd ed. §6.1 coefficients), |error| < 1e-15 relative. */
export function logGamma(z: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - logGamma(1 - z); // reflection
  const x = z - 1;
  let sum = c[0] as number;
  for (let i = 1; i < g + 2; i++) sum += (c[i] as number) / (x + i);
  const t = x + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Continued fraction for I_x(a, b) by the modified Lentz method (Numerical Recipes §6.4, betacf). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b) for a, b > 0, x in [0, 1]. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`incomplete beta needs a, b > 0 (got ${a}, ${b})`);
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // the continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(x, a, b)) / a : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** The p with I_p(a, b) = q, by bisection (I is monotone in p; 200 halvings reach double precision). */
export function inverseRegularizedIncompleteBeta(q: number, a: number, b: number): number {
  if (q <= 0) return 0;
  if (q >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedIncompleteBeta(mid, a, b) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface Proportion {
  /** Trials (samples). */
  readonly n: number;
  /** Failures among them. */
  readonly misses: number;
  readonly rate: number;
  /** Exact two-sided interval at `level`. */
  readonly lower: number;
  readonly upper: number;
  readonly level: number;
}

/** Exact Clopper-Pearson interval for `misses` out of `n` at the given level (default 0.95). */
export function clopperPearson(misses: number, n: number, level = 0.95): Proportion {
  if (!Number.isInteger(n) || n < 1) throw new ScoringInputError(`n must be a positive integer, got ${n}`);
  if (!Number.isInteger(misses) || misses < 0 || misses > n) throw new ScoringInputError(`misses must be an integer in 0..${n}, got ${misses}`);
  if (!(level > 0 && level < 1)) throw new ScoringInputError(`confidence level must be in (0, 1), got ${level}`);
  const alpha = 1 - level;
  const lower = misses === 0 ? 0 : inverseRegularizedIncompleteBeta(alpha / 2, misses, n - misses + 1);
  const upper = misses === n ? 1 : inverseRegularizedIncompleteBeta(1 - alpha / 2, misses + 1, n - misses);
  return { n, misses, rate: misses / n, lower, upper, level };
}

/** One scored sample as the statistics need it: its drawn parameters and its outcome. */
export interface ScoredSample {
  readonly parameters: Readonly<Record<string, ParameterValue>>;
  readonly outcome: Outcome;
}

export interface ParameterLevel extends Proportion {
  /** The categorical value, or null for a bin. */
  readonly value: ParameterValue | null;
  /** [lo, hi) of a continuous bin (the last bin includes hi), or null for a categorical value. */
  readonly bin: readonly [number, number] | null;
}

export interface ParameterBreakdown {
  readonly parameter: string;
  readonly kind: "categorical" | "binned";
  readonly levels: readonly ParameterLevel[];
}

export interface MissRateReport {
  readonly overall: Proportion;
  readonly byParameter: readonly ParameterBreakdown[];
}

export interface MissRateOptions {
  /** Default 0.95. */
  readonly level?: number;
  /** Whether WRONG_CLASS counts as a miss (the object was not found as what it is). Default true. */
  readonly wrongClassIsMiss?: boolean;
  /** Bin edges per continuous parameter (ascending, at least two); others get `bins` equal-width bins over the observed range. */
  readonly binEdges?: Readonly<Record<string, readonly number[]>>;
  /** Equal-width bins for continuous parameters without edges. Default 5. */
  readonly bins?: number;
  /** A numeric parameter with at most this many distinct values is treated as categorical. Default 6. */
  readonly maxCategoricalNumbers?: number;
}

function equalWidthEdges(values: readonly number[], bins: number): number[] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (hi === lo) return [lo, hi];
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + ((hi - lo) * i) / bins));
}

/** Miss rate overall and broken down by each parameter, each with its exact interval and n. */
export function missRateReport(samples: readonly ScoredSample[], options: MissRateOptions = {}): MissRateReport {
  if (samples.length === 0) throw new ScoringInputError("a miss-rate report needs at least one scored sample");
  const level = options.level ?? 0.95;
  const bins = options.bins ?? 5;
  if (!Number.isInteger(bins) || bins < 1) throw new ScoringInputError(`bins must be a positive integer, got ${bins}`);
  const wrongClassIsMiss = options.wrongClassIsMiss ?? true;
  const missed = (s: ScoredSample) => (wrongClassIsMiss ? isMiss(s.outcome) : s.outcome === "MISS");
  const proportion = (group: readonly ScoredSample[]) => clopperPearson(group.filter(missed).length, group.length, level);

  const names = [...new Set(samples.flatMap((s) => Object.keys(s.parameters)))].sort();
  const byParameter: ParameterBreakdown[] = [];
  for (const parameter of names) {
    const present = samples.filter((s) => parameter in s.parameters);
    const values = present.map((s) => s.parameters[parameter] as ParameterValue);
    const distinct = [...new Set(values)];
    const numeric = values.every((v) => typeof v === "number");
    const edges = options.binEdges?.[parameter];
    if (numeric && (edges || distinct.length > (options.maxCategoricalNumbers ?? 6))) {
      const cut = edges ? [...edges] : equalWidthEdges(values as number[], bins);
      if (cut.length < 2 || cut.some((e, i) => i > 0 && e <= (cut[i - 1] as number))) {
        throw new ScoringInputError(`bin edges for ${parameter} must be at least two ascending numbers, got [${cut.join(", ")}]`);
      }
      const levels: ParameterLevel[] = [];
      for (let i = 0; i + 1 < cut.length; i++) {
        const lo = cut[i] as number;
        const hi = cut[i + 1] as number;
        const last = i + 2 === cut.length;
        const inBin = present.filter((s) => {
          const v = s.parameters[parameter] as number;
          return v >= lo && (last ? v <= hi : v < hi);
        });
        if (inBin.length > 0) levels.push({ ...proportion(inBin), value: null, bin: [lo, hi] });
      }
      byParameter.push({ parameter, kind: "binned", levels });
    } else {
      const sorted = distinct.sort((a, b) => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))));
      byParameter.push({
        parameter,
        kind: "categorical",
        levels: sorted.map((value) => ({ ...proportion(present.filter((s) => s.parameters[parameter] === value)), value, bin: null })),
      });
    }
  }
  return { overall: proportion(samples), byParameter };
}
