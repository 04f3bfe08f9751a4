// The scaled distribution: a parameter proportional to another (a box whose width follows its height), as
// spec, draw and model check see it.
import { describe, expect, it } from "vitest";
import { checkScenarioAgainstModel, drawParameters, parseScenarioSpec, validateScenarioSpec, type ConditionLayout } from "../../src/scenarios/index.ts";

const base = {
  name: "pedestrian-any-distance",
  domain: "automotive",
  model: "road-hazards",
  parameters: {
    hazard: "pedestrian",
    hazardH: { kind: "uniform", min: 0.1, max: 0.4 },
    hazardW: { kind: "scaled", of: "hazardH", min: 0.35, max: 0.5 },
  },
};

const issuesOf = (parameters: Record<string, unknown>) => {
  const result = parseScenarioSpec({ ...base, parameters });
  if (result.ok) throw new Error("expected the spec to be refused");
  return result.issues;
};

describe("scaled parameters", () => {
  it("draw of × a factor within [min, max], deterministically, keeping the parameter order", () => {
    const spec = validateScenarioSpec(base);
    const draws = Array.from({ length: 2000 }, (_, i) => drawParameters(spec, 5, i));
    for (const d of draws) {
      const aspect = (d.hazardW as number) / (d.hazardH as number);
      expect(aspect).toBeGreaterThanOrEqual(0.35);
      expect(aspect).toBeLessThan(0.5);
    }
    // the factor is uniform and independent of the base: mean aspect ~0.425, widths spread 0.035..0.2
    const mean = draws.reduce((s, d) => s + (d.hazardW as number) / (d.hazardH as number), 0) / draws.length;
    expect(mean).toBeCloseTo(0.425, 2);
    expect(Math.min(...draws.map((d) => d.hazardW as number))).toBeLessThan(0.045);
    expect(Math.max(...draws.map((d) => d.hazardW as number))).toBeGreaterThan(0.18);
    expect(drawParameters(spec, 5, 17)).toEqual(draws[17]);
    expect(Object.keys(draws[0]!)).toEqual(["hazard", "hazardH", "hazardW"]);
  });

  it("adds the offset: a centre that sits lower the taller (nearer) the box is", () => {
    const spec = validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazardCy: { kind: "scaled", of: "hazardH", offset: 0.45, min: 0.5, max: 1 } } });
    expect(spec.parameters.hazardW).toMatchObject({ offset: 0 });
    for (let i = 0; i < 500; i++) {
      const d = drawParameters(spec, 9, i);
      const factor = ((d.hazardCy as number) - 0.45) / (d.hazardH as number);
      expect(factor).toBeGreaterThanOrEqual(0.5);
      expect(factor).toBeLessThan(1);
    }
  });

  it("draws a truncated normal factor when mean and std are given", () => {
    const spec = validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazardW: { kind: "scaled", of: "hazardH", min: 0.3, max: 0.6, mean: 0.4, std: 0.01 } } });
    const aspects = Array.from({ length: 500 }, (_, i) => drawParameters(spec, 1, i)).map((d) => (d.hazardW as number) / (d.hazardH as number));
    expect(aspects.reduce((s, a) => s + a, 0) / aspects.length).toBeCloseTo(0.4, 2);
    expect(Math.max(...aspects)).toBeLessThan(0.45);
  });

  it("refuses an unknown, scaled or non-numeric base and a half-given normal, naming the field", () => {
    expect(issuesOf({ hazardW: { kind: "scaled", of: "hazardHeight", min: 0.3, max: 0.5 } })).toEqual([
      { path: "parameters.hazardW.of", message: expect.stringContaining("names no parameter") },
    ]);
    expect(
      issuesOf({ hazardH: { kind: "scaled", of: "hazardCy", min: 0.1, max: 0.2 }, hazardCy: 0.6, hazardW: { kind: "scaled", of: "hazardH", min: 0.3, max: 0.5 } }),
    ).toEqual([{ path: "parameters.hazardW.of", message: expect.stringContaining("hazardH is itself scaled") }]);
    expect(issuesOf({ weather: { kind: "choice", values: ["fog", "rain"] }, hazardW: { kind: "scaled", of: "weather", min: 0.3, max: 0.5 } })).toEqual([
      { path: "parameters.hazardW.of", message: "weather does not draw numbers" },
    ]);
    expect(issuesOf({ hazardH: 0.2, hazardW: { kind: "scaled", of: "hazardH", min: 0.3, max: 0.5, mean: 0.4 } })).toEqual([
      { path: "parameters.hazardW.std", message: expect.stringContaining("mean and std together") },
    ]);
    expect(issuesOf({ hazardH: 0.2, hazardW: { kind: "scaled", of: "hazardH", min: 0.5, max: 0.3 } })[0]?.path).toBe("parameters.hazardW.max");
  });

  it("is checked against the model's range as the product of the base's and the factor's ranges", () => {
    const layout: ConditionLayout = {
      name: "road-hazards",
      domain: "automotive",
      condition: {
        fields: [
          { name: "hazard", kind: "categorical", values: ["pedestrian", "vehicle"] },
          { name: "hazardH", kind: "scalar", range: [0, 1] },
          { name: "hazardW", kind: "scalar", range: [0, 1] },
        ],
      },
    };
    expect(checkScenarioAgainstModel(validateScenarioSpec(base), layout)).toEqual([]);
    const sunk = validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazardW: { kind: "scaled", of: "hazardH", offset: 0.8, min: 0.5, max: 1 } } });
    expect(checkScenarioAgainstModel(sunk, layout)).toEqual([{ path: "parameters.hazardW", message: "hazardW must stay within the model's range [0, 1], got [0.85, 1.2]" }]);
    const tooWide = validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazardW: { kind: "scaled", of: "hazardH", min: 1.5, max: 3 } } });
    expect(checkScenarioAgainstModel(tooWide, layout)).toEqual([
      { path: "parameters.hazardW", message: "hazardW must stay within the model's range [0, 1], got [0.15, 1.2]" },
    ]);
    const onCategorical = validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazard: { kind: "scaled", of: "hazardH", min: 1, max: 2 } } });
    expect(checkScenarioAgainstModel(onCategorical, layout)[0]?.message).toContain("hazard is categorical");
  });
});
