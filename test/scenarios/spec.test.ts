import { describe, expect, it } from "vitest";
import { parseScenarioSpec, validateScenarioSpec, ScenarioValidationError } from "../../src/scenarios/index.ts";

const valid = {
  name: "deer-crossing-test",
  domain: "automotive",
  model: "road-hazards",
  parameters: { hazard: "animal", weather: { kind: "choice", values: ["fog", "rain"], weights: [3, 1] } },
  expectations: [{ class: "animal" }],
};

function issuesOf(input: unknown) {
  const result = parseScenarioSpec(input);
  if (result.ok) throw new Error("expected the spec to be refused");
  return result.issues;
}

describe("scenario specification", () => {
  it("accepts a valid spec and applies defaults (bare values are fixed distributions)", () => {
    const spec = validateScenarioSpec(valid);
    expect(spec.parameters.hazard).toEqual({ kind: "fixed", value: "animal" });
    expect(spec.tags).toEqual([]);
    expect(spec.expectations[0]).toEqual({ class: "animal", minCount: 1 });
  });

  it("names an unknown distribution and lists the allowed kinds", () => {
    const issues = issuesOf({ ...valid, parameters: { hazard: { kind: "gaussian", mean: 1 } } });
    expect(issues).toEqual([
      { path: "parameters.hazard.kind", message: expect.stringContaining("fixed, choice, uniform, truncatedNormal, integer, sweep, halton") },
    ]);
  });

  it("refuses a negative range, naming the field", () => {
    const issues = issuesOf({ ...valid, parameters: { hazardCx: { kind: "uniform", min: 0.8, max: 0.2 } } });
    expect(issues).toEqual([{ path: "parameters.hazardCx.max", message: expect.stringContaining("negative range") }]);
  });

  it("refuses a wrong domain with the allowed values", () => {
    expect(issuesOf({ ...valid, domain: "maritime" })).toEqual([{ path: "domain", message: "domain must be one of: automotive, medical" }]);
  });

  it("refuses unknown fields at the top and inside distributions", () => {
    expect(issuesOf({ ...valid, colour: "red" })).toEqual([{ path: "colour", message: 'unknown field "colour"' }]);
    expect(issuesOf({ ...valid, parameters: { x: { kind: "uniform", min: 0, max: 1, mean: 0.5 } } })).toEqual([
      { path: "parameters.x.mean", message: 'unknown field "mean"' },
    ]);
  });

  it("checks choice weights, truncated normal spread and expectations", () => {
    expect(issuesOf({ ...valid, parameters: { w: { kind: "choice", values: ["a", "b"], weights: [1] } } })[0]?.path).toBe("parameters.w.weights");
    expect(issuesOf({ ...valid, parameters: { w: { kind: "choice", values: ["a"], weights: [0] } } })[0]?.path).toBe("parameters.w.weights");
    expect(issuesOf({ ...valid, parameters: { w: { kind: "truncatedNormal", mean: 0, std: 0, min: -1, max: 1 } } })[0]?.path).toBe(
      "parameters.w.std",
    );
    expect(issuesOf({ ...valid, expectations: [{ classFrom: "nothing" }] })[0]?.path).toBe("expectations.0.classFrom");
    expect(issuesOf({ ...valid, expectations: [{ class: "a", classFrom: "hazard" }] })[0]?.path).toBe("expectations.0.class");
  });

  it("throws a typed error listing every issue", () => {
    expect(() => validateScenarioSpec({ ...valid, domain: "x", colour: 1 })).toThrow(ScenarioValidationError);
    try {
      validateScenarioSpec({ ...valid, domain: "x", colour: 1 });
    } catch (error) {
      expect((error as ScenarioValidationError).issues.map((i) => i.path).sort()).toEqual(["colour", "domain"]);
    }
  });
});
