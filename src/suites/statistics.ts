// The paired statistics of a suite run: the exact McNemar test on the discordant pairs of two detectors
// scored on the same samples, and Holm's step-down correction across a suite's tests. Plain functions of
// counts; the miss-rate interval (Clopper-Pearson) is detection's (one rule, one place).
import { logGamma } from "../detection/index.ts";
import { SuiteInputError } from "./errors.ts";

/** Per-sample (candidate, baseline) outcomes on the same valid samples, as a 2x2 table. */
export interface PairedCounts {
  /** Both detectors found the object. */
  readonly bothHit: number;
  /** Only the candidate found it (the candidate improves here). */
  readonly candidateOnlyHit: number;
  /** Only the baseline found it (the candidate regresses here). */
  readonly baselineOnlyHit: number;
  /** Neither found it. */
  readonly bothMiss: number;
}

export interface McNemarResult {
  /** Discordant pairs: baselineOnlyHit + candidateOnlyHit. */
  readonly discordant: number;
  /** Exact two-sided p-value: binomial test of baselineOnlyHit out of the discordant pairs against 1/2. */
  readonly pValue: number;
  /** Candidate miss rate minus baseline miss rate, (baselineOnlyHit - candidateOnlyHit) / n; 0 when n is 0. */
  readonly missRateDifference: number;
}

const checkCount = (value: number, name: string) => {
  if (!Number.isSafeInteger(value) || value < 0) throw new SuiteInputError(`${name} must be a non-negative integer, got ${value}`);
};

/** ln C(n, k). */
const logChoose = (n: number, k: number) => logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);

/** P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (2^-n underflows past n = 1074). */
export function binomialHalfLowerTail(k: number, n: number): number {
  checkCount(k, "k");
  checkCount(n, "n");
  if (k >= n) return 1;
  const logTerms = Array.from({ length: k + 1 }, (_, i) => logChoose(n, i) - n * Math.LN2);
  const top = Math.max(...logTerms);
  return Math.min(1, Math.exp(top) * logTerms.reduce((sum, t) => sum + Math.exp(t - top), 0));
}

/**
 * Exact McNemar test (McNemar 1947; the exact form is the binomial test on the discordant pairs, as R's
 * `mcnemar.exact` / `binom.test(b, b + c)`): under "no difference" each discordant pair falls either way with
 * probability 1/2, so the two-sided p-value is min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2).
 */
export function exactMcNemar(counts: PairedCounts): McNemarResult {
  const { bothHit, candidateOnlyHit: c, baselineOnlyHit: b, bothMiss } = counts;
  for (const [name, value] of Object.entries(counts)) checkCount(value, name);
  const discordant = b + c;
  const n = bothHit + b + c + bothMiss;
  const pValue = discordant === 0 ? 1 : Math.min(1, 2 * binomialHalfLowerTail(Math.min(b, c), discordant));
  return { discordant, pValue, missRateDifference: n === 0 ? 0 : (b - c) / n };
}

/**
 * Holm's step-down adjusted p-values (Holm 1979), in the input's order: sort ascending, multiply the i-th
 * smallest (from 0) by (m - i), carry the running maximum, cap at 1. A test is rejected at level alpha when
 * its adjusted p-value is <= alpha — the same decisions as comparing p_(i) with alpha / (m - i) step by step.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  for (const p of pValues) if (!(p >= 0 && p <= 1)) throw new SuiteInputError(`a p-value must be in [0, 1], got ${p}`);
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p || x.i - y.i);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
