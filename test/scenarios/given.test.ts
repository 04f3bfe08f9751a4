// The given distribution: a number whose range depends on another parameter's value (a box per class), as
// spec, draw and model check see it.
import { describe, expect, it } from "vitest";
import { checkScenarioAgainstModel, drawParameters, parseScenarioSpec, validateScenarioSpec, type ConditionLayout } from "../../src/scenarios/index.ts";

const base = {
  name: "small-hazards-by-class",
  domain: "automotive",
  model: "road-hazards",
  parameters: {
    hazardH: {
      kind: "given",
      of: "hazard",
      cases: { pedestrian: { kind: "uniform", min: 0.09, max: 0.13 }, vehicle: { kind: "truncatedNormal", mean: 0.04, std: 0.01, min: 0.03, max: 0.06 }, cone: 0.07 },
    },
    hazard: { kind: "sweep", values: ["pedestrian", "vehicle", "cone"] },
    hazardW: {
      kind: "given",
      of: "hazard",
      cases: {
        pedestrian: { kind: "scaled", of: "hazardH", min: 0.35, max: 0.5 },
        vehicle: { kind: "scaled", of: "hazardH", min: 1.1, max: 1.5 },
        cone: { kind: "fixed", value: 0.04 },
      },
    },
  },
};

const issuesOf = (parameters: Record<string, unknown>) => {
  const result = parseScenarioSpec({ ...base, parameters: { ...base.parameters, ...parameters } });
  if (result.ok) throw new Error("expected the spec to be refused");
  return result.issues;
};

describe("given parameters", () => {
  it("draw from the case for the value the other parameter drew, deterministically, keeping the parameter order", () => {
    const spec = validateScenarioSpec(base);
    expect(spec.parameters.hazardH).toMatchObject({ cases: { cone: { kind: "fixed", value: 0.07 } } });
    const draws = Array.from({ length: 900 }, (_, i) => drawParameters(spec, 4, i));
    for (const d of draws) {
      const [w, h] = [d.hazardW as number, d.hazardH as number];
      if (d.hazard === "pedestrian") {
        expect(h).toBeGreaterThanOrEqual(0.09);
        expect(h).toBeLessThan(0.13);
        expect(w / h).toBeGreaterThanOrEqual(0.35);
        expect(w / h).toBeLessThan(0.5);
      } else if (d.hazard === "vehicle") {
        expect(h).toBeGreaterThanOrEqual(0.03);
        expect(h).toBeLessThanOrEqual(0.06);
        expect(w / h).toBeGreaterThanOrEqual(1.1);
        expect(w / h).toBeLessThan(1.5);
      } else expect([w, h]).toEqual([0.04, 0.07]);
    }
    // the sweep still cycles the classes, and each class's draws spread over its own range
    expect(draws.slice(0, 3).map((d) => d.hazard)).toEqual(["pedestrian", "vehicle", "cone"]);
    const pedestrianHeights = draws.filter((d) => d.hazard === "pedestrian").map((d) => d.hazardH as number);
    expect(Math.min(...pedestrianHeights)).toBeLessThan(0.095);
    expect(Math.max(...pedestrianHeights)).toBeGreaterThan(0.125);
    const vehicleHeights = draws.filter((d) => d.hazard === "vehicle").map((d) => d.hazardH as number);
    expect(vehicleHeights.reduce((s, h) => s + h, 0) / vehicleHeights.length).toBeCloseTo(0.041, 2);
    expect(drawParameters(spec, 4, 17)).toEqual(draws[17]);
    expect(Object.keys(draws[0]!)).toEqual(["hazardH", "hazard", "hazardW"]);
  });

  it("need a case for every value the other parameter can draw, and only for those", () => {
    expect(issuesOf({ hazard: { kind: "choice", values: ["pedestrian", "vehicle", "cone", "cyclist"] } })).toEqual([
      { path: "parameters.hazardH.cases", message: 'no case for hazard "cyclist"; every value hazard draws needs one' },
      { path: "parameters.hazardW.cases", message: 'no case for hazard "cyclist"; every value hazard draws needs one' },
    ]);
    // a zero-weight value is never drawn, so it needs no case
    expect(parseScenarioSpec({ ...base, parameters: { ...base.parameters, hazard: { kind: "choice", values: ["pedestrian", "vehicle", "cone", "cyclist"], weights: [1, 1, 1, 0] } } }).ok).toBe(true);
    expect(issuesOf({ hazard: { kind: "sweep", values: ["pedestrian", "vehicle"] } })).toEqual([
      { path: "parameters.hazardH.cases.cone", message: 'hazard never draws "cone"; its values: pedestrian, vehicle' },
      { path: "parameters.hazardW.cases.cone", message: 'hazard never draws "cone"; its values: pedestrian, vehicle' },
    ]);
  });

  it("refuses an unknown or unlisted base, a case that cannot depend on another parameter, and a scale by a scaled value", () => {
    expect(issuesOf({ hazardH: { kind: "given", of: "hazardClass", cases: { pedestrian: 0.1 } } })).toEqual([
      { path: "parameters.hazardH.of", message: expect.stringContaining("names no parameter") },
    ]);
    expect(issuesOf({ hazardCy: { kind: "uniform", min: 0.5, max: 0.6 }, hazardH: { kind: "given", of: "hazardCy", cases: { "0.5": 0.1 } } })).toEqual([
      { path: "parameters.hazardH.of", message: "hazardCy must draw listed values (fixed, choice or sweep) for given to pick a case" },
    ]);
    expect(issuesOf({ hazardH: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "sweep", values: [0.1, 0.2] }, vehicle: 0.05, cone: 0.07 } } })).toEqual([
      { path: "parameters.hazardH.cases.pedestrian.kind", message: "a case of given draws a number: kind fixed, uniform, truncatedNormal, scaled" },
    ]);
    expect(issuesOf({ hazardH: { kind: "given", of: "hazard", cases: { pedestrian: "tall", vehicle: 0.05, cone: 0.07 } } })[0]?.path).toBe("parameters.hazardH.cases.pedestrian");
    // hazardW is scaled (in its cases), so nothing may scale by it, nor may a case scale by itself
    expect(issuesOf({ hazardCy: { kind: "scaled", of: "hazardW", min: 1, max: 2 } })).toEqual([
      { path: "parameters.hazardCy.of", message: "hazardW is itself scaled; scale by a parameter that is drawn directly" },
    ]);
    expect(issuesOf({ hazardH: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "scaled", of: "hazardH", min: 1, max: 2 }, vehicle: 0.05, cone: 0.07 } } })).toContainEqual({
      path: "parameters.hazardH.cases.pedestrian.of",
      message: "hazardH cannot scale itself",
    });
  });

  it("is checked against the model's range over all its cases", () => {
    const layout: ConditionLayout = {
      name: "road-hazards",
      domain: "automotive",
      condition: {
        fields: [
          { name: "hazard", kind: "categorical", values: ["pedestrian", "vehicle", "cone"] },
          { name: "hazardH", kind: "scalar", range: [0, 1] },
          { name: "hazardW", kind: "scalar", range: [0, 0.1] },
        ],
      },
    };
    // widths: pedestrian up to 0.13 × 0.5, vehicle up to 0.06 × 1.5 = 0.09, cone 0.04
    expect(checkScenarioAgainstModel(validateScenarioSpec(base), layout)).toEqual([]);
    const wide = { ...base.parameters.hazardW, cases: { ...base.parameters.hazardW.cases, vehicle: { kind: "scaled", of: "hazardH", min: 1.1, max: 2 } } };
    expect(checkScenarioAgainstModel(validateScenarioSpec({ ...base, parameters: { ...base.parameters, hazardW: wide } }), layout)).toEqual([
      { path: "parameters.hazardW", message: "hazardW must stay within the model's range [0, 0.1], got [0.0315, 0.12]" },
    ]);
  });
});
