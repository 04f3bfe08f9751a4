// Judging a suite run from its evidence: per scenario, the candidate's outcomes (and the baseline's) on the
// same samples; every criterion evaluated, the paired regression tests Holm-corrected across the whole suite.
// A pure function of the evidence: the same samples and scores give the same report.
import { clopperPearson, isMiss, type Proportion } from "../detection/index.ts";
import type { ParameterValue } from "../scenarios/index.ts";
import { describeCondition, inCondition, type CriterionKind, type SuiteCondition, type SuiteScenario, type SuiteSpec } from "./spec.ts";
import { exactMcNemar, holmAdjust, type PairedCounts } from "./statistics.ts";

/** A scored outcome as stored: a detector outcome, or INVALID when the realism gate refused the sample. */
export type StoredOutcome = "HIT" | "MISS" | "WRONG_CLASS" | "INVALID";

/** One sample of a scenario in the run, with what each detector made of it. */
export interface SuiteSample {
  readonly sampleId: string;
  readonly index: number;
  readonly parameters: Readonly<Record<string, ParameterValue>>;
  readonly candidate: StoredOutcome;
  readonly candidateConfidence: number | null;
  /** Absent without a baseline detector. */
  readonly baseline?: StoredOutcome;
}

export interface ScenarioEvidence {
  readonly entry: SuiteScenario;
  readonly scenarioVersion: number;
  readonly sampler: string;
  readonly steps: number;
  readonly guidance: number;
  /** Where the settings came from (the model's `defaults` or its `fast` settings). */
  readonly quality?: "default" | "fast";
  readonly samples: readonly SuiteSample[];
}

export type CriterionStatus = "PASSED" | "FAILED" | "SKIPPED";

export interface CriterionResult {
  readonly scenario: string;
  readonly kind: CriterionKind;
  readonly condition: SuiteCondition | null;
  /** The condition as text (`timeOfDay=night`), null for the whole scenario. */
  readonly conditionLabel: string | null;
  readonly status: CriterionStatus;
  /** Upper interval bound (maxMissRate), valid share (minValidShare), miss-rate increase (maxRegression). */
  readonly observed: number | null;
  readonly limit: number;
  readonly pValue: number | null;
  readonly adjustedP: number | null;
  readonly message: string;
}

export interface PairedComparison extends PairedCounts {
  readonly n: number;
  readonly pValue: number;
  /** Holm-adjusted across the suite's paired tests (null when the criterion asks for none here). */
  readonly adjustedP: number | null;
  /** Candidate miss rate minus baseline miss rate. */
  readonly missRateDifference: number;
}

export interface GroupReport {
  /** Valid samples (both detectors' scores passed the realism gate). */
  readonly n: number;
  readonly missRate: Proportion | null;
  readonly baselineMissRate: Proportion | null;
  readonly paired: PairedComparison | null;
}

export interface ConditionReport extends GroupReport {
  readonly where: SuiteCondition;
  readonly label: string;
}

export interface HardSample {
  readonly sampleId: string;
  readonly index: number;
  readonly outcome: StoredOutcome;
  readonly confidence: number | null;
  readonly parameters: Readonly<Record<string, ParameterValue>>;
}

export interface ScenarioReport extends GroupReport {
  readonly scenario: string;
  readonly scenarioVersion: number;
  readonly seed: number;
  readonly samples: number;
  readonly sampler: string;
  readonly steps: number;
  readonly guidance: number;
  readonly quality: "default" | "fast";
  readonly invalid: number;
  readonly validShare: number;
  readonly status: "PASSED" | "FAILED";
  readonly conditions: readonly ConditionReport[];
  readonly criteria: readonly CriterionResult[];
  /** The candidate's misses first, then its lowest confidences. */
  readonly hardest: readonly HardSample[];
}

export interface SuiteReport {
  readonly alpha: number;
  readonly level: number;
  readonly baseline: boolean;
  readonly status: "PASSED" | "FAILED";
  readonly counts: Readonly<Record<CriterionStatus, number>>;
  readonly scenarios: readonly ScenarioReport[];
}

/** Hardest samples listed per scenario. */
export const HARDEST_SAMPLES = 5;

const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
const missed = (outcome: StoredOutcome) => isMiss(outcome);

function proportion(group: readonly SuiteSample[], outcomeOf: (s: SuiteSample) => StoredOutcome, level: number): Proportion | null {
  return group.length === 0 ? null : clopperPearson(group.filter((s) => missed(outcomeOf(s))).length, group.length, level);
}

function pairedCounts(group: readonly SuiteSample[]): PairedCounts {
  const counts = { bothHit: 0, candidateOnlyHit: 0, baselineOnlyHit: 0, bothMiss: 0 };
  for (const s of group) {
    const candidateMissed = missed(s.candidate);
    const baselineMissed = missed(s.baseline!);
    if (!candidateMissed && !baselineMissed) counts.bothHit++;
    else if (!candidateMissed) counts.candidateOnlyHit++;
    else if (!baselineMissed) counts.baselineOnlyHit++;
    else counts.bothMiss++;
  }
  return counts;
}

function groupReport(group: readonly SuiteSample[], baseline: boolean, level: number): GroupReport {
  const paired = baseline ? pairedCounts(group) : null;
  return {
    n: group.length,
    missRate: proportion(group, (s) => s.candidate, level),
    baselineMissRate: baseline ? proportion(group, (s) => s.baseline!, level) : null,
    paired: paired ? { ...paired, n: group.length, ...exactMcNemar(paired), adjustedP: null } : null,
  };
}

function missRateCriterion(scenario: string, group: GroupReport, limit: number, level: number, where: SuiteCondition | null): CriterionResult {
  const label = where ? describeCondition(where) : null;
  const base = { scenario, kind: "maxMissRate" as const, condition: where, conditionLabel: label, limit, pValue: null, adjustedP: null };
  const scope = label ? ` at ${label}` : "";
  const rate = group.missRate;
  if (!rate) return { ...base, status: "FAILED", observed: null, message: `no valid sample${scope}: the miss rate cannot be bounded (limit ${percent(limit)})` };
  const passed = rate.upper <= limit;
  return {
    ...base,
    status: passed ? "PASSED" : "FAILED",
    observed: rate.upper,
    message: `miss rate${scope} ${rate.misses}/${rate.n} = ${percent(rate.rate)}, ${Math.round(level * 100)} % Clopper-Pearson upper bound ${percent(rate.upper)} ${passed ? "<=" : ">"} limit ${percent(limit)}`,
  };
}

function validShareCriterion(scenario: string, valid: number, generated: number, limit: number): CriterionResult {
  const share = generated === 0 ? 0 : valid / generated;
  const passed = generated > 0 && share >= limit;
  return {
    scenario,
    kind: "minValidShare",
    condition: null,
    conditionLabel: null,
    status: passed ? "PASSED" : "FAILED",
    observed: share,
    limit,
    pValue: null,
    adjustedP: null,
    message: `${valid} of ${generated} samples passed the realism gate (${percent(share)}) ${passed ? ">=" : "<"} minimum ${percent(limit)}`,
  };
}

/** A paired regression test waiting for its Holm-adjusted p-value. */
interface PendingRegression {
  scenario: string;
  where: SuiteCondition | null;
  limit: number;
  paired: PairedComparison | null;
}

function regressionCriterion(test: PendingRegression, adjustedP: number | null, alpha: number): CriterionResult {
  const label = test.where ? describeCondition(test.where) : null;
  const base = { scenario: test.scenario, kind: "maxRegression" as const, condition: test.where, conditionLabel: label, limit: test.limit };
  const scope = label ? ` at ${label}` : "";
  const p = test.paired;
  if (!p) return { ...base, status: "SKIPPED", observed: null, pValue: null, adjustedP: null, message: `no baseline detector: the regression${scope} is not tested` };
  const significant = adjustedP !== null && adjustedP <= alpha;
  const regressed = p.baselineOnlyHit > p.candidateOnlyHit && significant && p.missRateDifference > test.limit;
  const figures =
    `of ${p.n} paired samples${scope}, ${p.baselineOnlyHit} found only by the baseline and ${p.candidateOnlyHit} only by the candidate: ` +
    `miss rate ${p.missRateDifference >= 0 ? "+" : ""}${(p.missRateDifference * 100).toFixed(1)} points, exact McNemar p = ${p.pValue.toPrecision(3)}, Holm-adjusted ${adjustedP === null ? "-" : adjustedP.toPrecision(3)} (alpha ${alpha})`;
  const verdict = regressed
    ? `: a significant regression above the tolerated ${percent(test.limit)}`
    : p.baselineOnlyHit > p.candidateOnlyHit && significant
      ? `: significant, but within the tolerated ${percent(test.limit)}`
      : ": no significant regression";
  return { ...base, status: regressed ? "FAILED" : "PASSED", observed: p.missRateDifference, pValue: p.pValue, adjustedP, message: figures + verdict };
}

const byHardness = (a: SuiteSample, b: SuiteSample) =>
  Number(missed(b.candidate)) - Number(missed(a.candidate)) || (a.candidateConfidence ?? 1) - (b.candidateConfidence ?? 1) || a.index - b.index;

/** Evaluates every criterion of every scenario; the paired tests of the whole suite form one Holm family. */
export function evaluateSuite(spec: SuiteSpec, evidence: readonly ScenarioEvidence[], baseline: boolean): SuiteReport {
  const { level, alpha } = spec;
  const pending: PendingRegression[] = [];
  const drafts = evidence.map((e) => {
    const name = e.entry.scenario;
    const criteria = e.entry.criteria;
    const valid = e.samples.filter((s) => s.candidate !== "INVALID" && (!baseline || s.baseline !== "INVALID"));
    const whole = groupReport(valid, baseline, level);
    const conditions = criteria.conditions.map((c) => ({ where: c.where, label: describeCondition(c.where), ...groupReport(valid.filter((s) => inCondition(s.parameters, c.where)), baseline, level) }));
    const results: Array<CriterionResult | PendingRegression> = [];
    if (criteria.minValidShare !== undefined) results.push(validShareCriterion(name, valid.length, e.samples.length, criteria.minValidShare));
    if (criteria.maxMissRate !== undefined) results.push(missRateCriterion(name, whole, criteria.maxMissRate, level, null));
    criteria.conditions.forEach((c, k) => {
      if (c.maxMissRate !== undefined) results.push(missRateCriterion(name, conditions[k]!, c.maxMissRate, level, c.where));
    });
    const regression = (where: SuiteCondition | null, limit: number, paired: PairedComparison | null) => {
      const test: PendingRegression = { scenario: name, where, limit, paired };
      if (paired) pending.push(test);
      results.push(test);
    };
    if (criteria.maxRegression !== undefined) regression(null, criteria.maxRegression, whole.paired);
    criteria.conditions.forEach((c, k) => {
      const limit = c.maxRegression ?? criteria.maxRegression;
      if (limit !== undefined) regression(c.where, limit, conditions[k]!.paired);
    });
    const hardest = [...valid].sort(byHardness).slice(0, HARDEST_SAMPLES).map((s) => ({ sampleId: s.sampleId, index: s.index, outcome: s.candidate, confidence: s.candidateConfidence, parameters: s.parameters }));
    return { e, valid, whole, conditions, results, hardest };
  });

  // one Holm family: every paired test of the suite, keyed by its group's table
  const holm = holmAdjust(pending.map((t) => t.paired!.pValue));
  const adjusted = new Map(pending.map((test, i) => [test, holm[i]!]));
  const adjustedOf = new Map(pending.map((test, i) => [test.paired!, holm[i]!]));
  const withAdjusted = (paired: PairedComparison | null): PairedComparison | null => (paired && adjustedOf.has(paired) ? { ...paired, adjustedP: adjustedOf.get(paired)! } : paired);

  const scenarios: ScenarioReport[] = drafts.map(({ e, valid, whole, conditions, results, hardest }) => {
    const name = e.entry.scenario;
    const criteria = results.map((r) => ("kind" in r ? r : regressionCriterion(r, adjusted.get(r) ?? null, alpha)));
    return {
      scenario: name,
      scenarioVersion: e.scenarioVersion,
      seed: e.entry.seed,
      samples: e.entry.samples,
      sampler: e.sampler,
      steps: e.steps,
      guidance: e.guidance,
      quality: e.quality ?? "default",
      invalid: e.samples.length - valid.length,
      validShare: e.samples.length === 0 ? 0 : valid.length / e.samples.length,
      ...whole,
      paired: withAdjusted(whole.paired),
      conditions: conditions.map((c) => ({ ...c, paired: withAdjusted(c.paired) })),
      criteria,
      hardest,
      status: criteria.some((c) => c.status === "FAILED") ? "FAILED" : "PASSED",
    };
  });
  const all = scenarios.flatMap((s) => s.criteria);
  const count = (status: CriterionStatus) => all.filter((c) => c.status === status).length;
  return {
    alpha,
    level,
    baseline,
    status: count("FAILED") > 0 ? "FAILED" : "PASSED",
    counts: { PASSED: count("PASSED"), FAILED: count("FAILED"), SKIPPED: count("SKIPPED") },
    scenarios,
  };
}

