// The nominal failure rate from a search's samples: the search draws from proposals shifted towards failures,
// so its raw failure rate is not the scenario's. Reweighting each sample by the likelihood ratio of the
// scenario's own distribution to the proposals it could have come from gives the rate under the scenario
// (importance sampling), from samples the search has already paid for.
//
// 1. Deterministic-mixture weights (Owen & Zhou 2000, "Safe and effective importance sampling", §2; with
//    proposals adapted along the way this is AMIS, Cornuet et al. 2012): with n_t draws from q_t and N = Σ n_t,
//      w_i = p(x_i) / Σ_t (n_t / N) q_t(x_i).
//    The mixture keeps every weight bounded by N / n_0 · p / q_0, and the CEM's first proposal is near the
//    scenario's own, so one sample far from the learned region cannot dominate.
// 2. Self-normalised estimate over the valid samples (the realism gate's INVALID ones are excluded, as from the
//    raw rate; self-normalising makes it the rate among valid samples):  μ = Σ w_i f_i / Σ w_i.
// 3. Effective sample size (Kish 1965): n_eff = (Σ w_i)² / Σ w_i².
// 4. Interval: Wilson's score interval for μ at n_eff. Why not a bootstrap: it is closed-form and deterministic,
//    it is exactly the Wilson interval of the raw rate when every weight is equal, and it stays informative when
//    no failure was seen (a bootstrap of zero failures collapses to [0, 0]); Clopper-Pearson needs integer counts.
// Densities are taken over the search's coordinates (a scaled parameter's factor, a given one's position in
// its case's range), where both the scenario's and the proposals' are known in closed form.
import { logDensity, normalQuantile, type Distribution, type DrawnParameters, type ParameterValue, type ScenarioSpec } from "../scenarios/index.ts";
import { SearchInputError } from "./errors.ts";
import { learnedLogDensity, type LearnedDimension, type Proposal } from "./search.ts";
import { coordinateOf, uniformLogDensity, type SearchDimension, type SearchSpace } from "./space.ts";

export const NOMINAL_METHOD = "self-normalised importance sampling (deterministic mixture), Wilson interval at Kish's effective sample size";

export interface NominalFailureRate {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
  /** Kish's (Σw)² / Σw² over the valid samples: the interval is that of this many direct draws. */
  readonly effectiveSampleSize: number;
  readonly level: number;
  readonly method: string;
}

/** One drawn sample: its parameters, the iteration that drew it, and its outcome (null: not validly scored). */
export interface WeightedSample {
  readonly parameters: DrawnParameters;
  readonly iteration: number;
  readonly failed: boolean | null;
}

/** One iteration's proposal and how many samples it drew (valid or not: all count in the mixture). */
export interface IterationProposal {
  readonly proposal: Proposal;
  readonly n: number;
}

type Varying = Exclude<SearchDimension, { kind: "fixed" }>;

/** The varying dimensions' coordinates of one sample; a dimension whose coordinate cannot be told (a one-value case) is left out of every density. */
function coordinates(space: SearchSpace, parameters: DrawnParameters): Array<[Varying, ParameterValue]> {
  const out: Array<[Varying, ParameterValue]> = [];
  for (const d of space.dimensions) {
    if (d.kind === "fixed") continue;
    const c = coordinateOf(d, parameters);
    if (c === null) continue;
    // a scaled value divided back by its base may leave its range by a rounding error
    out.push([d, d.kind === "continuous" ? Math.min(d.max, Math.max(d.min, c as number)) : c]);
  }
  return out;
}

/** Log-density of one coordinate under the scenario's own distribution of that parameter. */
function scenarioLogDensity(spec: Pick<ScenarioSpec, "parameters">, dimension: Varying, coordinate: ParameterValue, parameters: DrawnParameters): number {
  const d = spec.parameters[dimension.name] as Distribution | undefined;
  if (!d) throw new SearchInputError("invalid-setting", `${dimension.name}: not a parameter of the scenario`);
  if (d.kind !== "given") return logDensity(d, coordinate);
  // a given parameter's coordinate is its position u in the case's range: value = min + u (max − min)
  const c = d.cases[String(parameters[d.of])];
  if (!c || c.kind === "fixed") throw new SearchInputError("invalid-setting", `${dimension.name}: no drawn case for ${d.of} "${String(parameters[d.of])}"`);
  return logDensity(c, c.min + (coordinate as number) * (c.max - c.min)) + Math.log(c.max - c.min);
}

function proposalLogDensity(proposal: Proposal, dimension: Varying, coordinate: ParameterValue): number {
  if (proposal.kind === "uniform") return uniformLogDensity(dimension, coordinate);
  const learned = proposal.distribution.dimensions.find((d) => d.name === dimension.name);
  if (!learned || learned.kind === "fixed") throw new SearchInputError("invalid-setting", `${dimension.name}: not in the proposal`);
  return learnedLogDensity(learned as Exclude<LearnedDimension, { kind: "fixed" }>, coordinate);
}

function logSumExp(values: readonly number[]): number {
  const top = Math.max(...values);
  if (top === Number.NEGATIVE_INFINITY) return top;
  return top + Math.log(values.reduce((s, v) => s + Math.exp(v - top), 0));
}

/** log w_i of formula 1 for every sample. */
export function mixtureLogWeights(spec: Pick<ScenarioSpec, "parameters">, space: SearchSpace, samples: readonly WeightedSample[], proposals: readonly IterationProposal[]): number[] {
  const total = proposals.reduce((n, p) => n + p.n, 0);
  return samples.map((sample) => {
    const coords = coordinates(space, sample.parameters);
    const logP = coords.reduce((s, [d, c]) => s + scenarioLogDensity(spec, d, c, sample.parameters), 0);
    if (logP === Number.NEGATIVE_INFINITY) return logP;
    const logMixture = logSumExp(proposals.map(({ proposal, n }) => Math.log(n / total) + coords.reduce((s, [d, c]) => s + proposalLogDensity(proposal, d, c), 0)));
    if (!(logMixture > Number.NEGATIVE_INFINITY)) throw new SearchInputError("invalid-setting", `a sample of iteration ${sample.iteration} has density 0 under every proposal`);
    return logP - logMixture;
  });
}

/** Wilson's score interval for a proportion `rate` observed over `n` (possibly fractional) trials. */
export function wilsonInterval(rate: number, n: number, level: number): { lower: number; upper: number } {
  const z = normalQuantile(1 - (1 - level) / 2);
  const z2n = (z * z) / n;
  const centre = (rate + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((rate * (1 - rate)) / n + z2n / (4 * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/** The nominal failure rate (formulas 1-4) from a search's samples; null when none is validly scored or every valid one is impossible under the scenario. */
export function nominalFailureRate(
  spec: Pick<ScenarioSpec, "parameters">,
  space: SearchSpace,
  samples: readonly WeightedSample[],
  proposals: readonly IterationProposal[],
  level = 0.95,
): NominalFailureRate | null {
  const valid = samples.filter((s): s is WeightedSample & { failed: boolean } => s.failed !== null);
  if (valid.length === 0) return null;
  const logWeights = mixtureLogWeights(spec, space, valid, proposals);
  const top = Math.max(...logWeights);
  if (top === Number.NEGATIVE_INFINITY) return null;
  // weights up to a common factor, which every formula below cancels
  const weights = logWeights.map((lw) => Math.exp(lw - top));
  const sum = weights.reduce((s, w) => s + w, 0);
  const estimate = weights.reduce((s, w, i) => (valid[i]!.failed ? s + w : s), 0) / sum;
  const effectiveSampleSize = (sum * sum) / weights.reduce((s, w) => s + w * w, 0);
  return { estimate, ...wilsonInterval(estimate, effectiveSampleSize, level), effectiveSampleSize, level, method: NOMINAL_METHOD };
}
