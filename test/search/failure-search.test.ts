// The failure search on a synthetic detector with a known weak region: it fails only on small objects at
// night in fog (about 1.3 % of a uniform draw). Confidence degrades smoothly towards that corner, as a
// real detector's does, which is what lets the cross-entropy method climb to it.
import { describe, expect, it } from "vitest";
import { drawParameters, validateScenarioSpec, type DrawnParameters } from "../../src/scenarios/index.ts";
import {
  crossEntropySearch,
  distributionToScenarioSpec,
  haltonSearch,
  randomSearch,
  SearchInputError,
  searchSpaceFromScenario,
  type EvaluateBatch,
  type SearchOutcome,
} from "../../src/search/index.ts";

const scenario = validateScenarioSpec({
  name: "hazards-anywhere",
  domain: "automotive",
  model: "road-hazards",
  parameters: {
    hazard: { kind: "choice", values: ["pedestrian", "cyclist", "animal", "vehicle"] },
    weather: { kind: "choice", values: ["clear", "rain", "fog", "snow"] },
    timeOfDay: { kind: "choice", values: ["day", "dusk", "night"] },
    hazardCx: { kind: "uniform", min: 0.1, max: 0.9 },
    hazardW: { kind: "uniform", min: 0.05, max: 0.5 },
    lanes: { kind: "integer", min: 1, max: 4 },
    hazardCy: 0.6,
  },
  expectations: [{ classFrom: "hazard" }],
});
const space = searchSpaceFromScenario(scenario);

function syntheticDetector(p: DrawnParameters): SearchOutcome {
  const fog = p.weather === "fog" ? 1 : 0;
  const night = p.timeOfDay === "night" ? 1 : 0;
  const small = Math.min(1, Math.max(0, (0.2 - (p.hazardW as number)) / 0.08));
  const confidence = 0.95 - 0.2 * fog - 0.2 * night - 0.2 * small;
  return { failed: fog === 1 && night === 1 && (p.hazardW as number) < 0.12, confidence };
}
const evaluate: EvaluateBatch = async (batch) => batch.map(syntheticDetector);

describe("failure search", () => {
  it("the cross-entropy method finds at least 3x the uniform baseline's failure rate with budget 512", async () => {
    const options = { budget: 512, seed: 7, batchSize: 64 };
    const [cem, uniform, halton] = await Promise.all([
      crossEntropySearch(space, evaluate, options),
      randomSearch(space, evaluate, options),
      haltonSearch(space, evaluate, options),
    ]);
    for (const result of [cem, uniform, halton]) {
      expect(result.evaluations).toHaveLength(512);
      expect(result.iterations).toHaveLength(8);
      expect(result.iterations.reduce((n, i) => n + i.failures, 0)).toBe(result.failures);
    }
    expect(uniform.failureRate).toBeLessThan(0.05);
    expect(halton.failureRate).toBeLessThan(0.05);
    expect(cem.failures).toBeGreaterThanOrEqual(3 * Math.max(1, uniform.failures));
    expect(cem.failures).toBeGreaterThanOrEqual(3 * Math.max(1, halton.failures));
    // it climbs: the last iterations fail far more often than the first
    expect(cem.iterations.at(-1)!.failureRate).toBeGreaterThan(0.5);
    expect(cem.iterations[0]!.failureRate).toBeLessThan(0.1);
    // and it learned the weak region
    const learned = Object.fromEntries(cem.distribution.dimensions.map((d) => [d.name, d]));
    const weather = learned.weather!;
    const time = learned.timeOfDay!;
    const width = learned.hazardW!;
    expect(weather.kind === "categorical" && weather.probabilities[weather.values.indexOf("fog")]).toBeGreaterThan(0.8);
    expect(time.kind === "categorical" && time.probabilities[time.values.indexOf("night")]).toBeGreaterThan(0.8);
    expect(width.kind === "continuous" && width.mean).toBeLessThan(0.12);
  });

  it("exports the learned distribution as a scenario spec that reproduces the failures when drawn from", async () => {
    const cem = await crossEntropySearch(space, evaluate, { budget: 512, seed: 7 });
    const spec = distributionToScenarioSpec(cem.distribution, scenario);
    expect(spec.name).toBe("hazards-anywhere-failures");
    expect(spec.parameters.hazardCy).toEqual({ kind: "fixed", value: 0.6 });
    expect(spec.parameters.weather?.kind).toBe("choice");
    expect(spec.parameters.hazardW).toMatchObject({ kind: "truncatedNormal", min: 0.05, max: 0.5 });
    expect(spec.parameters.lanes).toMatchObject({ kind: "choice", values: [1, 2, 3, 4] });
    // the spec is ordinary input to the generator's drawing: most of its samples land in the weak region
    const draws = Array.from({ length: 200 }, (_, i) => drawParameters(spec, 1, i));
    const failing = draws.filter((p) => syntheticDetector(p).failed).length;
    expect(failing / draws.length).toBeGreaterThan(0.5);
  });

  it("is deterministic for a seed and differs across seeds", async () => {
    const a = await crossEntropySearch(space, evaluate, { budget: 128, seed: 3, batchSize: 32 });
    const b = await crossEntropySearch(space, evaluate, { budget: 128, seed: 3, batchSize: 32 });
    const c = await crossEntropySearch(space, evaluate, { budget: 128, seed: 4, batchSize: 32 });
    expect(b.evaluations).toEqual(a.evaluations);
    expect(c.evaluations).not.toEqual(a.evaluations);
    const h1 = await haltonSearch(space, evaluate, { budget: 64, seed: 3 });
    const h2 = await haltonSearch(space, evaluate, { budget: 64, seed: 3 });
    expect(h2.evaluations).toEqual(h1.evaluations);
  });

  it("spends exactly the budget, a short last batch included, and batches the evaluate calls", async () => {
    const batchSizes: number[] = [];
    const counting: EvaluateBatch = async (batch) => {
      batchSizes.push(batch.length);
      return batch.map(syntheticDetector);
    };
    const result = await randomSearch(space, counting, { budget: 100, seed: 1, batchSize: 64 });
    expect(batchSizes).toEqual([64, 36]);
    expect(result.evaluations.map((e) => e.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const e of result.evaluations) {
      expect(["pedestrian", "cyclist", "animal", "vehicle"]).toContain(e.parameters.hazard);
      expect(e.parameters.hazardW as number).toBeGreaterThanOrEqual(0.05);
      expect(e.parameters.hazardW as number).toBeLessThanOrEqual(0.5);
      expect(Number.isInteger(e.parameters.lanes)).toBe(true);
      expect(e.parameters.hazardCy).toBe(0.6);
    }
  });

  it("noisy CE keeps exploring while the budget lasts and still learns the weak corner", async () => {
    const plain = await crossEntropySearch(space, evaluate, { budget: 256, seed: 5, batchSize: 32 });
    const noisy = await crossEntropySearch(space, evaluate, { budget: 256, seed: 5, batchSize: 32, exploration: 0.5 });
    const spread = (r: typeof plain, name: string) => {
      const values = r.evaluations.filter((e) => e.iteration === 2).map((e) => e.parameters[name] as number);
      const mean = values.reduce((a, v) => a + v, 0) / values.length;
      return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    };
    // the third batch is drawn wider with exploration than without
    expect(spread(noisy, "hazardCx")).toBeGreaterThan(1.5 * spread(plain, "hazardCx"));
    // the first batch is the same (exploration starts after the first refit) ...
    expect(noisy.evaluations.slice(0, 32)).toEqual(plain.evaluations.slice(0, 32));
    // ... and it still learns the weak corner
    const fog = noisy.distribution.dimensions.find((d) => d.name === "weather")!;
    expect(fog.kind === "categorical" && fog.probabilities[fog.values.indexOf("fog")]).toBeGreaterThan(0.8);
    await expect(crossEntropySearch(space, evaluate, { budget: 64, seed: 1, exploration: 2 })).rejects.toMatchObject({ code: "invalid-setting" });
  });

  it("refuses a budget <= 0 and bad settings before evaluating anything", async () => {
    let calls = 0;
    const spy: EvaluateBatch = async (batch) => {
      calls++;
      return batch.map(syntheticDetector);
    };
    for (const budget of [0, -5, 2.5, Number.NaN]) {
      for (const search of [crossEntropySearch, randomSearch, haltonSearch]) {
        const error = await search(space, spy, { budget, seed: 1 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SearchInputError);
        expect((error as SearchInputError).code).toBe("invalid-budget");
      }
    }
    await expect(crossEntropySearch(space, spy, { budget: 64, seed: 1, eliteFraction: 0 })).rejects.toThrow(SearchInputError);
    await expect(randomSearch(searchSpaceFromScenario({ parameters: { weather: { kind: "fixed", value: "fog" } } }), spy, { budget: 8, seed: 1 })).rejects.toMatchObject({
      code: "empty-space",
    });
    expect(calls).toBe(0);
    // an evaluate that breaks the one-outcome-per-set contract is named, not silently misread
    await expect(randomSearch(space, async () => [], { budget: 4, seed: 1 })).rejects.toMatchObject({ code: "evaluate-contract" });
  });
});

describe("failure search over scaled parameters", () => {
  // A pedestrian whose width follows its height (aspect 0.3..0.6); the detector fails on thin, far ones.
  const pedestrians = validateScenarioSpec({
    name: "pedestrian-any-distance",
    domain: "automotive",
    model: "road-hazards",
    parameters: {
      hazard: "pedestrian",
      weather: { kind: "choice", values: ["clear", "rain", "fog", "snow"] },
      hazardH: { kind: "uniform", min: 0.08, max: 0.5 },
      hazardW: { kind: "scaled", of: "hazardH", min: 0.3, max: 0.6 },
      hazardCy: { kind: "scaled", of: "hazardH", offset: 0.45, min: 0.1, max: 0.4 },
    },
    expectations: [{ class: "pedestrian" }],
  });
  const scaledSpace = searchSpaceFromScenario(pedestrians);
  const aspect = (p: DrawnParameters) => (p.hazardW as number) / (p.hazardH as number);
  const thinAndFar: EvaluateBatch = async (batch) =>
    batch.map((p) => {
      const thin = Math.min(1, Math.max(0, (0.5 - aspect(p)) / 0.2));
      const far = Math.min(1, Math.max(0, (0.3 - (p.hazardH as number)) / 0.2));
      return { failed: aspect(p) < 0.38 && (p.hazardH as number) < 0.16, confidence: 0.95 - 0.3 * thin - 0.3 * far };
    });

  it("proposes widths that follow the height in every method, and the CEM learns the factor", async () => {
    const options = { budget: 512, seed: 2 };
    const [cem, uniform, halton] = await Promise.all([
      crossEntropySearch(scaledSpace, thinAndFar, options),
      randomSearch(scaledSpace, thinAndFar, options),
      haltonSearch(scaledSpace, thinAndFar, options),
    ]);
    for (const result of [cem, uniform, halton])
      for (const e of result.evaluations) {
        expect(aspect(e.parameters)).toBeGreaterThanOrEqual(0.3 - 1e-12);
        expect(aspect(e.parameters)).toBeLessThanOrEqual(0.6 + 1e-12);
        const ground = ((e.parameters.hazardCy as number) - 0.45) / (e.parameters.hazardH as number);
        expect(ground).toBeGreaterThanOrEqual(0.1 - 1e-12);
        expect(ground).toBeLessThanOrEqual(0.4 + 1e-12);
      }
    expect(cem.failures).toBeGreaterThanOrEqual(3 * Math.max(1, uniform.failures));
    const factor = cem.distribution.dimensions.find((d) => d.name === "hazardW")!;
    expect(factor).toMatchObject({ kind: "continuous", scaled: { of: "hazardH", offset: 0 }, min: 0.3, max: 0.6 });
    expect(factor.kind === "continuous" && factor.mean).toBeLessThan(0.4);

    // exported as a scaled parameter with the learned factor; drawing from it lands in the weak region
    const spec = distributionToScenarioSpec(cem.distribution, pedestrians);
    expect(spec.parameters.hazardW).toMatchObject({ kind: "scaled", of: "hazardH", offset: 0, min: 0.3, max: 0.6 });
    expect(spec.parameters.hazardCy).toMatchObject({ kind: "scaled", of: "hazardH", offset: 0.45, min: 0.1, max: 0.4 });
    const draws = Array.from({ length: 200 }, (_, i) => drawParameters(spec, 1, i));
    const failed = (await thinAndFar(draws, { kind: "uniform" })).filter((o) => o.failed).length;
    expect(failed / draws.length).toBeGreaterThan(0.5);
  });
});

describe("failure search over given parameters", () => {
  // Each class at its own small box: heights per class, widths scaled of the height by the class's aspect.
  // The detector fails on the smaller half of every class's height range.
  const byClass = validateScenarioSpec({
    name: "small-hazards-by-class",
    domain: "automotive",
    model: "road-hazards",
    parameters: {
      hazard: { kind: "choice", values: ["pedestrian", "vehicle"] },
      weather: { kind: "choice", values: ["clear", "fog"] },
      hazardH: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "uniform", min: 0.09, max: 0.13 }, vehicle: { kind: "uniform", min: 0.03, max: 0.06 } } },
      hazardW: {
        kind: "given",
        of: "hazard",
        cases: { pedestrian: { kind: "scaled", of: "hazardH", min: 0.35, max: 0.5 }, vehicle: { kind: "scaled", of: "hazardH", min: 1.1, max: 1.5 } },
      },
    },
    expectations: [{ classFrom: "hazard" }],
  });
  const givenSpace = searchSpaceFromScenario(byClass);
  const range = { pedestrian: [0.09, 0.13], vehicle: [0.03, 0.06] } as const;
  const position = (p: DrawnParameters) => {
    const [lo, hi] = range[p.hazard as keyof typeof range];
    return ((p.hazardH as number) - lo) / (hi - lo);
  };
  const smallEnd: EvaluateBatch = async (batch) => batch.map((p) => ({ failed: position(p) < 0.25, confidence: 0.5 + 0.4 * position(p) }));

  it("searches each class's own range through one position, and exports a given spec with the learned position", async () => {
    expect(givenSpace.dimensions.find((d) => d.name === "hazardH")).toMatchObject({
      kind: "continuous",
      min: 0,
      max: 1,
      given: { of: "hazard", cases: { pedestrian: { min: 0.09, max: 0.13 }, vehicle: { min: 0.03, max: 0.06 } } },
    });
    const options = { budget: 256, seed: 3 };
    const [cem, uniform, halton] = await Promise.all([
      crossEntropySearch(givenSpace, smallEnd, options),
      randomSearch(givenSpace, smallEnd, options),
      haltonSearch(givenSpace, smallEnd, options),
    ]);
    for (const result of [cem, uniform, halton])
      for (const { parameters: p } of result.evaluations) {
        const [lo, hi] = range[p.hazard as keyof typeof range];
        expect(p.hazardH as number).toBeGreaterThanOrEqual(lo - 1e-12);
        expect(p.hazardH as number).toBeLessThanOrEqual(hi + 1e-12);
        const [aMin, aMax] = p.hazard === "pedestrian" ? [0.35, 0.5] : [1.1, 1.5];
        expect((p.hazardW as number) / (p.hazardH as number)).toBeGreaterThanOrEqual(aMin - 1e-12);
        expect((p.hazardW as number) / (p.hazardH as number)).toBeLessThanOrEqual(aMax + 1e-12);
      }
    expect(cem.failures).toBeGreaterThanOrEqual(2 * Math.max(1, uniform.failures));
    const learned = cem.distribution.dimensions.find((d) => d.name === "hazardH")!;
    expect(learned.kind === "continuous" && learned.mean).toBeLessThan(0.3);

    const spec = distributionToScenarioSpec(cem.distribution, byClass);
    expect(spec.parameters.hazardH).toMatchObject({
      kind: "given",
      of: "hazard",
      cases: { pedestrian: { kind: "truncatedNormal", min: 0.09, max: 0.13 }, vehicle: { kind: "truncatedNormal", min: 0.03, max: 0.06 } },
    });
    expect(spec.parameters.hazardW).toMatchObject({ kind: "given", cases: { vehicle: { kind: "scaled", of: "hazardH", min: 1.1, max: 1.5 } } });
    const draws = Array.from({ length: 200 }, (_, i) => drawParameters(spec, 1, i));
    const failed = (await smallEnd(draws, { kind: "uniform" })).filter((o) => o.failed).length;
    expect(failed / draws.length).toBeGreaterThan(0.5);
  });
});
