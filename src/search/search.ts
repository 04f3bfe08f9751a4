// Failure search over a scenario's parameters: where does the detector fail? Three strategies with the same
// budget and the same injected `evaluate`, so the job system can plug in generation + detection later:
// - crossEntropySearch: the cross-entropy method (Rubinstein 1999; de Boer et al. 2005, "A Tutorial on the
//   Cross-Entropy Method") — sample from a parametric distribution, keep the elite fraction (misses first,
//   then lowest confidence), refit the distribution to the elite, smooth, repeat;
// - randomSearch: uniform over the space (the baseline a validation team would otherwise run);
// - haltonSearch: a Halton low-discrepancy sequence (space-filling baseline).
// Every random number is uniformAt(seed, evaluation index, stream): deterministic, no hidden state.
import { truncatedNormalAt, truncatedNormalLogDensity, truncatedNormalLogMass, uniformAt, radicalInverse, type DrawnParameters, type ParameterValue } from "../scenarios/index.ts";
import { SearchInputError } from "./errors.ts";
import { checkSpace, coordinateOf, materialise, uniformValue, type SearchDimension, type SearchSpace } from "./space.ts";

/** What evaluating one parameter set found: did the detector fail, and how confident was its best match. */
export interface SearchOutcome {
  readonly failed: boolean;
  /** Best-match confidence in 0..1 (lower = closer to failing); null/undefined when unknown. */
  readonly confidence?: number | null;
}

/**
 * What a batch's parameter sets were drawn from, so each one's density under it is known (nominal.ts):
 * the CEM's distribution at that iteration, or uniform over the space (uniform-random; Halton's design, a
 * low-discrepancy stand-in for uniform draws).
 */
export type Proposal = { readonly kind: "learned"; readonly distribution: LearnedDistribution } | { readonly kind: "uniform" };

/** Evaluates a batch of parameter sets (generate + detect + score); one outcome per set, in order. */
export type EvaluateBatch = (batch: readonly DrawnParameters[], proposal: Proposal) => Promise<readonly SearchOutcome[]>;

/** A search dimension with the distribution the search currently draws it from. */
export type LearnedDimension =
  | (Extract<SearchDimension, { kind: "categorical" }> & { readonly probabilities: readonly number[] })
  /** For a scaled parameter, mean and std are its factor's, like min and max. */
  | (Extract<SearchDimension, { kind: "continuous" }> & { readonly mean: number; readonly std: number })
  | Extract<SearchDimension, { kind: "fixed" }>;

export interface LearnedDistribution {
  readonly dimensions: readonly LearnedDimension[];
}

export interface SearchEvaluation {
  readonly index: number;
  readonly iteration: number;
  readonly parameters: DrawnParameters;
  readonly outcome: SearchOutcome;
}

export interface IterationSummary {
  readonly iteration: number;
  readonly n: number;
  readonly failures: number;
  readonly failureRate: number;
  /** What this iteration's batch was drawn from. */
  readonly proposal: Proposal;
}

export interface SearchResult {
  readonly method: "cross-entropy" | "random" | "halton";
  readonly budget: number;
  readonly seed: number;
  readonly evaluations: readonly SearchEvaluation[];
  readonly iterations: readonly IterationSummary[];
  readonly failures: number;
  readonly failureRate: number;
  /** The distribution the last batch was drawn from (CEM: learned, refit once more on the final batch; baselines: uniform). */
  readonly distribution: LearnedDistribution;
}

/**
 * Defaults for every search: with a budget of 512, more and smaller iterations and a fast-moving fit pay
 * (BENCHMARKS.md, Failure search: ~3x uniform-random's failure rate where batch 64 / elite 0.1 /
 * smoothing 0.7 reached ~2x). Used by the library, the service and the CLI's help.
 */
export const SEARCH_DEFAULTS = { batchSize: 32, eliteFraction: 0.2, smoothing: 0.9 } as const;

export interface SearchOptions {
  readonly budget: number;
  readonly seed: number;
  /** Parameter sets per evaluate call (and per CEM iteration). Default SEARCH_DEFAULTS.batchSize. */
  readonly batchSize?: number;
  readonly onIteration?: (summary: IterationSummary) => void;
}

export interface CrossEntropyOptions extends SearchOptions {
  /** Fraction of each batch kept as the elite. Default SEARCH_DEFAULTS.eliteFraction. */
  readonly eliteFraction?: number;
  /** Weight of the elite fit in each update (1 = no memory). Default SEARCH_DEFAULTS.smoothing. */
  readonly smoothing?: number;
  /** Floor on each categorical probability, so no value is ruled out for good. Default 0.01. */
  readonly minProbability?: number;
  /** Floor on a continuous std as a fraction of its range. Default 0.02. */
  readonly minStdFraction?: number;
  /**
   * Noisy cross-entropy (Szita & Lőrincz 2006): after each refit, add this fraction of each range to the
   * continuous stds and mix categorical probabilities with this much of the uniform, decaying linearly to 0
   * over the budget's iterations, so an early, noisy elite cannot freeze the search. Default 0 (none).
   */
  readonly exploration?: number;
}

function checkCommon(space: SearchSpace, options: SearchOptions): number {
  const { budget, seed } = options;
  if (!Number.isInteger(budget) || budget <= 0) throw new SearchInputError("invalid-budget", `budget must be a positive integer number of evaluations, got ${budget}`);
  if (!Number.isInteger(seed) || seed < 0) throw new SearchInputError("invalid-setting", `seed must be a non-negative integer, got ${seed}`);
  const batchSize = options.batchSize ?? SEARCH_DEFAULTS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new SearchInputError("invalid-setting", `batchSize must be a positive integer, got ${batchSize}`);
  checkSpace(space);
  return batchSize;
}

function uniformDistribution(space: SearchSpace): LearnedDistribution {
  return {
    dimensions: space.dimensions.map((d): LearnedDimension => {
      if (d.kind === "categorical") return { ...d, probabilities: d.values.map(() => 1 / d.values.length) };
      // a truncated normal this wide is nearly flat over the range: CEM starts from (almost) the uniform baseline
      if (d.kind === "continuous") return { ...d, mean: (d.min + d.max) / 2, std: d.max - d.min };
      return d;
    }),
  };
}

/** Draws one parameter set from the distribution with the uniforms of (seed, index). */
export function drawFromDistribution(distribution: LearnedDistribution, seed: number, index: number): DrawnParameters {
  const out: DrawnParameters = {};
  for (const d of distribution.dimensions) {
    const u = uniformAt(seed, index, `search:${d.name}`);
    if (d.kind === "fixed") out[d.name] = d.value;
    else if (d.kind === "categorical") {
      let cumulative = 0;
      let chosen = d.values.length - 1;
      for (let i = 0; i < d.values.length; i++) {
        cumulative += d.probabilities[i] as number;
        if (u < cumulative) {
          chosen = i;
          break;
        }
      }
      out[d.name] = d.values[chosen] as ParameterValue;
    } else {
      // integers: sample the continuous normal over [min - 0.5, max + 0.5] and round, so end values get full cells
      const [lo, hi] = d.integer ? [d.min - 0.5, d.max + 0.5] : [d.min, d.max];
      const value = truncatedNormalAt(u, d.mean, d.std, lo, hi);
      out[d.name] = d.integer ? Math.min(d.max, Math.max(d.min, Math.round(value))) : value;
    }
  }
  return materialise(distribution, out);
}

/**
 * Log-density of one coordinate under the distribution drawFromDistribution draws it from (log-mass for a
 * categorical value and for an integer, which is a rounded normal over [min − 0.5, max + 0.5]).
 */
export function learnedLogDensity(dimension: Exclude<LearnedDimension, { kind: "fixed" }>, coordinate: ParameterValue): number {
  if (dimension.kind === "categorical") return Math.log(dimension.values.reduce<number>((p, v, i) => (v === coordinate ? p + (dimension.probabilities[i] as number) : p), 0));
  const { mean, std, min, max } = dimension;
  const x = coordinate as number;
  if (dimension.integer) return truncatedNormalLogMass(x - 0.5, x + 0.5, mean, std, min - 0.5, max + 0.5);
  return truncatedNormalLogDensity(x, mean, std, min, max);
}

async function evaluateChecked(evaluate: EvaluateBatch, batch: readonly DrawnParameters[], proposal: Proposal): Promise<readonly SearchOutcome[]> {
  const outcomes = await evaluate(batch, proposal);
  if (!Array.isArray(outcomes) || outcomes.length !== batch.length) {
    throw new SearchInputError("evaluate-contract", `evaluate returned ${Array.isArray(outcomes) ? outcomes.length : typeof outcomes} outcomes for ${batch.length} parameter sets`);
  }
  return outcomes;
}

function summarise(iteration: number, outcomes: readonly SearchOutcome[], proposal: Proposal): IterationSummary {
  const failures = outcomes.filter((o) => o.failed).length;
  return { iteration, n: outcomes.length, failures, failureRate: failures / outcomes.length, proposal };
}

function finish(method: SearchResult["method"], options: SearchOptions, evaluations: SearchEvaluation[], iterations: IterationSummary[], distribution: LearnedDistribution): SearchResult {
  const failures = evaluations.filter((e) => e.outcome.failed).length;
  return { method, budget: options.budget, seed: options.seed, evaluations, iterations, failures, failureRate: failures / evaluations.length, distribution };
}

const UNIFORM: Proposal = { kind: "uniform" };

/** Runs batches of parameter sets produced by `propose(index)` until the budget is spent. */
async function runFixedDesign(
  method: "random" | "halton",
  space: SearchSpace,
  evaluate: EvaluateBatch,
  options: SearchOptions,
  propose: (index: number) => DrawnParameters,
): Promise<SearchResult> {
  const batchSize = checkCommon(space, options);
  const evaluations: SearchEvaluation[] = [];
  const iterations: IterationSummary[] = [];
  for (let start = 0, iteration = 0; start < options.budget; start += batchSize, iteration++) {
    const batch = Array.from({ length: Math.min(batchSize, options.budget - start) }, (_, k) => propose(start + k));
    const outcomes = await evaluateChecked(evaluate, batch, UNIFORM);
    batch.forEach((parameters, k) => evaluations.push({ index: start + k, iteration, parameters, outcome: outcomes[k] as SearchOutcome }));
    const summary = summarise(iteration, outcomes, UNIFORM);
    iterations.push(summary);
    options.onIteration?.(summary);
  }
  return finish(method, options, evaluations, iterations, uniformDistribution(space));
}

/** Uniform random sampling over the space, with the same budget and batches as the CEM. */
export function randomSearch(space: SearchSpace, evaluate: EvaluateBatch, options: SearchOptions): Promise<SearchResult> {
  return runFixedDesign("random", space, evaluate, options, (index) => {
    const out: DrawnParameters = {};
    for (const d of space.dimensions) out[d.name] = d.kind === "fixed" ? d.value : uniformValue(d, uniformAt(options.seed, index, `random:${d.name}`));
    return materialise(space, out);
  });
}

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

/**
 * Halton points (one prime base per varying parameter, index from 1) with a seeded Cranley-Patterson
 * rotation, so different seeds give different but equally space-filling designs.
 */
export function haltonSearch(space: SearchSpace, evaluate: EvaluateBatch, options: SearchOptions): Promise<SearchResult> {
  const varying = space.dimensions.filter((d): d is Exclude<SearchDimension, { kind: "fixed" }> => d.kind !== "fixed");
  if (varying.length > PRIMES.length) throw new SearchInputError("invalid-setting", `Halton search supports at most ${PRIMES.length} varying parameters`);
  return runFixedDesign("halton", space, evaluate, options, (index) => {
    const out: DrawnParameters = {};
    for (const d of space.dimensions) {
      if (d.kind === "fixed") {
        out[d.name] = d.value;
        continue;
      }
      const dim = varying.indexOf(d);
      const shift = uniformAt(options.seed, 0, `halton:${d.name}`);
      out[d.name] = uniformValue(d, (radicalInverse(index + 1, PRIMES[dim] as number) + shift) % 1);
    }
    return materialise(space, out);
  });
}

/** Misses first; among equals, lower confidence first (unknown confidence ranks as certain). Stable by index. */
function rankForElite(a: SearchEvaluation, b: SearchEvaluation): number {
  if (a.outcome.failed !== b.outcome.failed) return a.outcome.failed ? -1 : 1;
  const ca = a.outcome.confidence ?? (a.outcome.failed ? 0 : 1);
  const cb = b.outcome.confidence ?? (b.outcome.failed ? 0 : 1);
  return ca - cb || a.index - b.index;
}

/** Refit each dimension to the elite (maximum likelihood: frequencies, mean and std), smoothed with the old fit. */
function refit(distribution: LearnedDistribution, elite: readonly SearchEvaluation[], settings: Required<Pick<CrossEntropyOptions, "smoothing" | "minProbability" | "minStdFraction">>): LearnedDistribution {
  const { smoothing: alpha, minProbability, minStdFraction } = settings;
  return {
    dimensions: distribution.dimensions.map((d): LearnedDimension => {
      if (d.kind === "fixed") return d;
      const values = elite.map((e) => coordinateOf(d, e.parameters)).filter((v): v is ParameterValue => v !== null);
      if (values.length === 0) return d;
      if (d.kind === "categorical") {
        const counts = d.values.map((v) => values.filter((x) => x === v).length / values.length);
        const mixed = d.probabilities.map((p, i) => Math.max(minProbability, alpha * (counts[i] as number) + (1 - alpha) * p));
        const total = mixed.reduce((s, p) => s + p, 0);
        return { ...d, probabilities: mixed.map((p) => p / total) };
      }
      const numbers = values as number[];
      const mean = numbers.reduce((s, v) => s + v, 0) / numbers.length;
      const std = Math.sqrt(numbers.reduce((s, v) => s + (v - mean) ** 2, 0) / numbers.length);
      const floor = minStdFraction * (d.max - d.min);
      return { ...d, mean: alpha * mean + (1 - alpha) * d.mean, std: Math.max(floor, alpha * std + (1 - alpha) * d.std) };
    }),
  };
}

/** Noisy CE: adds `amount` of each range to continuous stds, mixes `amount` of the uniform into categorical probabilities. */
function widen(distribution: LearnedDistribution, amount: number): LearnedDistribution {
  if (amount <= 0) return distribution;
  return {
    dimensions: distribution.dimensions.map((d): LearnedDimension => {
      if (d.kind === "categorical") return { ...d, probabilities: d.probabilities.map((p) => (1 - amount) * p + amount / d.values.length) };
      if (d.kind === "continuous") return { ...d, std: d.std + amount * (d.max - d.min) };
      return d;
    }),
  };
}

/** The cross-entropy method over the scenario's parameters; see the module comment. */
export async function crossEntropySearch(space: SearchSpace, evaluate: EvaluateBatch, options: CrossEntropyOptions): Promise<SearchResult> {
  const batchSize = checkCommon(space, options);
  const eliteFraction = options.eliteFraction ?? SEARCH_DEFAULTS.eliteFraction;
  const settings = { smoothing: options.smoothing ?? SEARCH_DEFAULTS.smoothing, minProbability: options.minProbability ?? 0.01, minStdFraction: options.minStdFraction ?? 0.02 };
  if (!(eliteFraction > 0 && eliteFraction <= 1)) throw new SearchInputError("invalid-setting", `eliteFraction must be in (0, 1], got ${eliteFraction}`);
  if (!(settings.smoothing > 0 && settings.smoothing <= 1)) throw new SearchInputError("invalid-setting", `smoothing must be in (0, 1], got ${settings.smoothing}`);
  if (!(settings.minProbability >= 0 && settings.minProbability < 0.5)) throw new SearchInputError("invalid-setting", `minProbability must be in [0, 0.5), got ${settings.minProbability}`);
  if (!(settings.minStdFraction > 0 && settings.minStdFraction <= 1)) throw new SearchInputError("invalid-setting", `minStdFraction must be in (0, 1], got ${settings.minStdFraction}`);

  const exploration = options.exploration ?? 0;
  if (!(exploration >= 0 && exploration <= 1)) throw new SearchInputError("invalid-setting", `exploration must be in [0, 1], got ${exploration}`);
  const totalIterations = Math.ceil(options.budget / batchSize);

  let distribution = uniformDistribution(space);
  const evaluations: SearchEvaluation[] = [];
  const iterations: IterationSummary[] = [];
  for (let start = 0, iteration = 0; start < options.budget; start += batchSize, iteration++) {
    const size = Math.min(batchSize, options.budget - start);
    const batch = Array.from({ length: size }, (_, k) => drawFromDistribution(distribution, options.seed, start + k));
    const proposal: Proposal = { kind: "learned", distribution };
    const outcomes = await evaluateChecked(evaluate, batch, proposal);
    const current = batch.map((parameters, k): SearchEvaluation => ({ index: start + k, iteration, parameters, outcome: outcomes[k] as SearchOutcome }));
    evaluations.push(...current);
    const summary = summarise(iteration, outcomes, proposal);
    iterations.push(summary);
    options.onIteration?.(summary);
    const elite = [...current].sort(rankForElite).slice(0, Math.max(1, Math.ceil(eliteFraction * size)));
    distribution = widen(refit(distribution, elite, settings), exploration * Math.max(0, 1 - (iteration + 1) / totalIterations));
  }
  return finish("cross-entropy", options, evaluations, iterations, distribution);
}
