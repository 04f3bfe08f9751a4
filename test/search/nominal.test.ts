// The nominal failure rate from search samples: importance weights of the scenario's own distribution against
// the proposals, on a synthetic detector whose failure probability under the scenario is known exactly.
import { describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { drawParameters, validateScenarioSpec, type DrawnParameters } from "../../src/scenarios/index.ts";
import {
  crossEntropySearch,
  nominalFailureRate,
  randomSearch,
  searchNominalFailureRate,
  searchSpaceFromScenario,
  type EvaluateBatch,
  type SearchResult,
  type WeightedSample,
} from "../../src/search/index.ts";

const scenario = validateScenarioSpec({
  name: "hazards-nominal",
  domain: "automotive",
  model: "road-hazards",
  parameters: {
    weather: { kind: "choice", values: ["clear", "rain", "fog"], weights: [6, 3, 1] },
    hazardW: { kind: "truncatedNormal", mean: 0.3, std: 0.1, min: 0.05, max: 0.5 },
    lanes: { kind: "integer", min: 1, max: 4 },
    hazardCy: 0.6,
  },
});
const space = searchSpaceFromScenario(scenario);

/**
 * Fails on fog with a small box (hazardW < 0.15). Under the scenario: P(fog) = 0.1 and
 * P(W < 0.15) = (Φ(−1.5) − Φ(−2.5)) / (Φ(2) − Φ(−2.5)) = 0.060598 / 0.971040 = 0.062405, so the rate is 0.0062405.
 */
const TRUE_RATE = 0.1 * ((0.0668072 - 0.0062097) / (0.9772499 - 0.0062097));
const weak = (p: DrawnParameters) => p.weather === "fog" && (p.hazardW as number) < 0.15;
const evaluate: EvaluateBatch = async (batch) => batch.map((p) => ({ failed: weak(p), confidence: weak(p) ? 0.1 : 0.3 + (p.hazardW as number) + (p.weather === "fog" ? 0 : 0.3) }));

function samplesOf(result: SearchResult, valid: (p: DrawnParameters) => boolean = () => true): WeightedSample[] {
  return result.evaluations.map((e) => ({ parameters: e.parameters, iteration: e.iteration, failed: valid(e.parameters) ? e.outcome.failed : null }));
}
const proposalsOf = (result: SearchResult) => result.iterations.map((i) => ({ proposal: i.proposal, n: i.n }));

describe("nominal failure rate", () => {
  it("equals the raw rate when the proposal is the scenario's own distribution (uniform search of a uniform scenario)", async () => {
    const uniform = validateScenarioSpec({
      name: "hazards-uniform",
      domain: "automotive",
      model: "road-hazards",
      parameters: { weather: { kind: "choice", values: ["clear", "rain", "fog"] }, hazardW: { kind: "uniform", min: 0.05, max: 0.5 }, lanes: { kind: "integer", min: 1, max: 4 } },
    });
    const result = await randomSearch(searchSpaceFromScenario(uniform), evaluate, { budget: 300, seed: 3, batchSize: 50 });
    const nominal = nominalFailureRate(uniform, searchSpaceFromScenario(uniform), samplesOf(result), proposalsOf(result))!;
    expect(nominal.estimate).toBeCloseTo(result.failureRate, 12);
    expect(nominal.effectiveSampleSize).toBeCloseTo(300, 9);
    // equal weights: the Wilson interval of the raw count
    const z = 1.959964;
    const [p, n] = [result.failureRate, 300];
    const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
    const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
    expect(nominal.lower).toBeCloseTo(centre - half, 5);
    expect(nominal.upper).toBeCloseTo(centre + half, 5);
  });

  it("weights scaled and given parameters through their search coordinates (factor; position in the case's range)", async () => {
    const shaped = (factor: Record<string, unknown>) =>
      validateScenarioSpec({
        name: "hazards-shaped",
        domain: "automotive",
        model: "road-hazards",
        parameters: {
          hazard: { kind: "choice", values: ["pedestrian", "vehicle"] },
          hazardH: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "uniform", min: 0.2, max: 0.4 }, vehicle: { kind: "uniform", min: 0.05, max: 0.1 } } },
          hazardW: { kind: "scaled", of: "hazardH", min: 0.3, max: 0.6, ...factor },
        },
      });
    const uniform = shaped({});
    const shapedSpace = searchSpaceFromScenario(uniform);
    const small: EvaluateBatch = async (batch) => batch.map((p) => ({ failed: (p.hazardW as number) < 0.05, confidence: null }));
    const result = await randomSearch(shapedSpace, small, { budget: 400, seed: 9, batchSize: 100 });
    // uniform cases and a uniform factor: the uniform search draws the scenario's own distribution
    const same = nominalFailureRate(uniform, shapedSpace, samplesOf(result), proposalsOf(result))!;
    expect(same.estimate).toBeCloseTo(result.failureRate, 12);
    expect(same.effectiveSampleSize).toBeCloseTo(400, 6);
    // a factor that favours wide boxes: fewer narrow ones; the interval holds the rate of direct draws from that scenario
    const wide = shaped({ mean: 0.6, std: 0.05 });
    const reweighted = nominalFailureRate(wide, searchSpaceFromScenario(wide), samplesOf(result), proposalsOf(result))!;
    const direct = Array.from({ length: 20000 }, (_, i) => drawParameters(wide, 1, i)).filter((p) => (p.hazardW as number) < 0.05).length / 20000;
    expect(direct).toBeLessThan(result.failureRate - 0.05);
    expect(reweighted.estimate).toBeLessThan(result.failureRate);
    expect(reweighted.lower).toBeLessThan(direct);
    expect(reweighted.upper).toBeGreaterThan(direct);
  });

  it("reweights a uniform search to a weighted scenario: the rate under the scenario, not the search's", async () => {
    const result = await randomSearch(space, evaluate, { budget: 2000, seed: 5, batchSize: 100 });
    const nominal = nominalFailureRate(scenario, space, samplesOf(result), proposalsOf(result))!;
    // uniform draws fail ~ 1/3 × 0.1 / 0.45 = 7.4 %, the scenario ~ 0.62 %
    expect(result.failureRate).toBeGreaterThan(0.05);
    expect(nominal.lower).toBeLessThan(TRUE_RATE);
    expect(nominal.upper).toBeGreaterThan(TRUE_RATE);
    expect(nominal.effectiveSampleSize).toBeLessThan(2000);
  });

  it("recovers the known rate from a cross-entropy search that concentrates on the failures, in most seeds", async () => {
    let covered = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const result = await crossEntropySearch(space, evaluate, { budget: 640, seed, batchSize: 64 });
      expect(result.failureRate).toBeGreaterThan(5 * TRUE_RATE);
      const nominal = nominalFailureRate(scenario, space, samplesOf(result), proposalsOf(result))!;
      if (nominal.lower <= TRUE_RATE && TRUE_RATE <= nominal.upper) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(9);
  });

  it("leaves out samples that were not validly scored, and says null when none was", async () => {
    const result = await randomSearch(space, evaluate, { budget: 200, seed: 2, batchSize: 50 });
    const rainInvalid = nominalFailureRate(scenario, space, samplesOf(result, (p) => p.weather !== "rain"), proposalsOf(result))!;
    const withoutRain = samplesOf(result).filter((s) => s.parameters.weather !== "rain");
    const dropped = nominalFailureRate(scenario, space, withoutRain, proposalsOf(result))!;
    expect(rainInvalid.estimate).toBeCloseTo(dropped.estimate, 12);
    expect(nominalFailureRate(scenario, space, samplesOf(result, () => false), proposalsOf(result))).toBeNull();
  });

  it("is computed by the service from a search's stored rows: samples by job, scores (INVALID left out), the recorded proposals", async () => {
    const result = await crossEntropySearch(space, evaluate, { budget: 128, seed: 4, batchSize: 32 });
    // every fifth sample refused by the realism gate, one generation without a score
    const outcomeOf = (k: number) => (k === 7 ? null : k % 5 === 0 ? "INVALID" : result.evaluations[k]!.outcome.failed ? "MISS" : "HIT");
    const rows = result.evaluations.map((e, k) => ({ jobId: `job-${e.iteration}`, parameters: e.parameters, scores: outcomeOf(k) === null ? [] : [{ outcome: outcomeOf(k), confidence: null }] }));
    const iterations = result.iterations.map((i) => ({ iteration: i.iteration, jobId: `job-${i.iteration}`, n: i.n, failures: 0, invalid: 0, valid: 1, failureRate: 0, proposal: i.proposal }));
    const db = {
      prisma: {
        scenarioVersion: { findUniqueOrThrow: async () => ({ spec: scenario }) },
        sample: { findMany: async () => rows },
      },
    } as unknown as Database;
    type StoredSearch = Parameters<typeof searchNominalFailureRate>[1];
    const search = { id: "s", method: "CEM", iterations: iterations as unknown as StoredSearch["iterations"], detectorPackageId: "d", scenarioVersionId: "v" } as const;
    const expected = nominalFailureRate(scenario, space, result.evaluations.map((e, k) => ({ parameters: e.parameters, iteration: e.iteration, failed: outcomeOf(k) === null || outcomeOf(k) === "INVALID" ? null : outcomeOf(k) === "MISS" })), proposalsOf(result));
    expect(await searchNominalFailureRate(db, search)).toEqual(expected);
    // a CEM search recorded before proposals were stored cannot be weighted; a random one is uniform by construction
    const unrecorded = iterations.map(({ proposal: _, ...rest }) => rest) as unknown as StoredSearch["iterations"];
    expect(await searchNominalFailureRate(db, { ...search, iterations: unrecorded })).toBeNull();
    expect(await searchNominalFailureRate(db, { ...search, method: "RANDOM", iterations: unrecorded })).not.toBeNull();
  });
});
