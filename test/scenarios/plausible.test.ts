// A scenario may ask each class only for the geometry its model declares plausible for it (model.json's
// labels[].plausible): a box's width, height and aspect per hazard class, a lesion's radius and position per
// pathology. Checked against the shipped manifests.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { checkScenarioAgainstModel, directoryModelCatalog, validateScenarioSpec, type ConditionLayout } from "../../src/scenarios/index.ts";

const models = directoryModelCatalog(loadConfig().modelsDir);
const road = (await models.layout("road-hazards")) as ConditionLayout;
const brain = (await models.layout("brain-mri")) as ConditionLayout;

const roadSpec = (parameters: Record<string, unknown>) =>
  validateScenarioSpec({
    name: "box-check",
    domain: "automotive",
    model: "road-hazards",
    parameters: { hazard: "pedestrian", weather: "clear", timeOfDay: "day", hazardCx: 0.5, hazardCy: 0.6, hazardW: 0.05, hazardH: 0.12, ...parameters },
  });
const brainSpec = (parameters: Record<string, unknown>) =>
  validateScenarioSpec({
    name: "lesion-check",
    domain: "medical",
    model: "brain-mri",
    parameters: { pathology: "tumour", lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.08, lesionContrast: 0.5, ...parameters },
  });

describe("plausible boxes", () => {
  it("the shipped road-hazards manifest declares a box per hazard class", () => {
    expect(road.labels?.[0]).toMatchObject({ kind: "box", plausible: { pedestrian: { aspect: [0.2, 0.9] }, vehicle: { aspect: [0.7, 3.2] } } });
  });

  it("refuses, for each class the scenario can draw, a box outside that class's aspect, naming the class and both ranges", () => {
    const oneBoxForAll = roadSpec({
      hazard: { kind: "sweep", values: ["pedestrian", "cyclist", "vehicle"] },
      hazardW: { kind: "uniform", min: 0.03, max: 0.06 },
      hazardH: { kind: "uniform", min: 0.03, max: 0.08 },
    });
    expect(checkScenarioAgainstModel(oneBoxForAll, road)).toEqual([
      { path: "parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 0.375..2 is outside the model\'s plausible 0.2..0.9' },
      { path: "parameters.hazardW", message: 'hazard "vehicle": box aspect w/h 0.375..2 is outside the model\'s plausible 0.7..3.2' },
    ]);
  });

  it("refuses a width or height outside the class's range", () => {
    expect(checkScenarioAgainstModel(roadSpec({ hazard: "debris", hazardW: 0.5, hazardH: { kind: "uniform", min: 0.2, max: 0.3 } }), road)).toEqual([
      { path: "parameters.hazardH", message: 'hazard "debris": box height hazardH 0.2..0.3 is outside the model\'s plausible 0.03..0.2601' },
    ]);
    expect(checkScenarioAgainstModel(roadSpec({ hazardW: { kind: "uniform", min: 0.02, max: 0.03 }, hazardH: 0.1 }), road)).toEqual([
      { path: "parameters.hazardW", message: 'hazard "pedestrian": box width hazardW 0.02..0.03 is outside the model\'s plausible 0.03..0.63' },
    ]);
  });

  it("accepts a box at the edges of a class's ranges", () => {
    // pedestrian: aspect exactly 0.2 to 0.9, width up to 0.63 (0.7 × 0.9), height up to 0.7
    expect(checkScenarioAgainstModel(roadSpec({ hazardH: { kind: "uniform", min: 0.3, max: 0.7 }, hazardW: { kind: "scaled", of: "hazardH", min: 0.2, max: 0.9 } }), road)).toEqual([]);
    // the same widths and heights drawn independently pair a wide box with a short one
    expect(checkScenarioAgainstModel(roadSpec({ hazardW: { kind: "uniform", min: 0.06, max: 0.63 }, hazardH: { kind: "uniform", min: 0.3, max: 0.7 } }), road)).toEqual([
      { path: "parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 0.0857143..2.1 is outside the model\'s plausible 0.2..0.9' },
    ]);
    expect(checkScenarioAgainstModel(roadSpec({ hazard: "vehicle", hazardW: 0.7, hazardH: { kind: "uniform", min: 0.21875, max: 0.7 } }), road)).toEqual([]);
    expect(checkScenarioAgainstModel(roadSpec({ hazard: "cyclist", hazardW: { kind: "uniform", min: 0.03, max: 0.06 }, hazardH: 0.03 }), road)).toEqual([]);
  });

  it("reads a scaled width as its factor's aspect, and a given box case by case", () => {
    // w = h × 1.1..1.6 is an animal's shape at every height, however wide the height range
    const deer = roadSpec({ hazard: "animal", hazardH: { kind: "uniform", min: 0.06, max: 0.35 }, hazardW: { kind: "scaled", of: "hazardH", min: 1.1, max: 1.6 } });
    expect(checkScenarioAgainstModel(deer, road)).toEqual([]);
    const byClass = {
      hazard: { kind: "choice", values: ["pedestrian", "vehicle"] },
      hazardH: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "uniform", min: 0.09, max: 0.13 }, vehicle: { kind: "uniform", min: 0.03, max: 0.06 } } },
      hazardW: { kind: "given", of: "hazard", cases: { pedestrian: { kind: "scaled", of: "hazardH", min: 0.35, max: 0.5 }, vehicle: { kind: "scaled", of: "hazardH", min: 1.1, max: 1.5 } } },
    };
    expect(checkScenarioAgainstModel(roadSpec(byClass), road)).toEqual([]);
    const squat = { ...byClass, hazardW: { ...byClass.hazardW, cases: { ...byClass.hazardW.cases, pedestrian: { kind: "scaled", of: "hazardH", min: 0.35, max: 1.2 } } } };
    expect(checkScenarioAgainstModel(roadSpec(squat), road)).toEqual([
      { path: "parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 0.35..1.2 is outside the model\'s plausible 0.2..0.9' },
    ]);
  });

  it("leaves out classes that are never drawn: none, and a zero-weight choice", () => {
    expect(checkScenarioAgainstModel(roadSpec({ hazard: "none", hazardW: 0.1, hazardH: 0.1 }), road)).toEqual([]);
    const weighted = { hazard: { kind: "choice", values: ["cyclist", "vehicle"], weights: [1, 0] }, hazardW: 0.06, hazardH: 0.1 };
    expect(checkScenarioAgainstModel(roadSpec(weighted), road)).toEqual([]);
    expect(checkScenarioAgainstModel(roadSpec({ ...weighted, hazard: { kind: "choice", values: ["cyclist", "vehicle"] } }), road)).toHaveLength(1);
  });
});

describe("plausible lesions", () => {
  it("refuses a radius outside the pathology's range, naming the pathology and both ranges", () => {
    expect(checkScenarioAgainstModel(brainSpec({ lesionRadius: { kind: "uniform", min: 0.04, max: 0.07 } }), brain)).toEqual([
      { path: "parameters.lesionRadius", message: 'pathology "tumour": lesion radius lesionRadius 0.04..0.07 is outside the model\'s plausible 0.06..0.15' },
    ]);
    const mixed = brainSpec({ pathology: { kind: "choice", values: ["tumour", "haemorrhage"] }, lesionRadius: { kind: "uniform", min: 0.06, max: 0.12 } });
    expect(checkScenarioAgainstModel(mixed, brain)).toEqual([
      { path: "parameters.lesionRadius", message: 'pathology "haemorrhage": lesion radius lesionRadius 0.06..0.12 is outside the model\'s plausible 0.03..0.11' },
    ]);
    const perPathology = { kind: "given", of: "pathology", cases: { tumour: { kind: "uniform", min: 0.06, max: 0.12 }, haemorrhage: { kind: "uniform", min: 0.03, max: 0.11 } } };
    expect(checkScenarioAgainstModel(brainSpec({ pathology: { kind: "choice", values: ["tumour", "haemorrhage"] }, lesionRadius: perPathology }), brain)).toEqual([]);
  });

  it("refuses a centre the lesion's disk cannot reach, and accepts one on the region's edge", () => {
    // at radius 0.08 a centre may lie 0.22 from the middle along x (0.3 - 0.08) or 0.28 along y (0.36 - 0.08)
    expect(checkScenarioAgainstModel(brainSpec({ lesionX: { kind: "choice", values: [0.28, 0.72] } }), brain)).toEqual([]);
    expect(checkScenarioAgainstModel(brainSpec({ lesionY: { kind: "uniform", min: 0.22, max: 0.78 } }), brain)).toEqual([]);
    expect(checkScenarioAgainstModel(brainSpec({ lesionX: { kind: "choice", values: [0.22, 0.78] } }), brain)).toEqual([
      {
        path: "parameters.lesionX",
        message:
          'pathology "tumour": lesion centre lesionX 0.22..0.78, lesionY 0.5..0.5 with lesionRadius up to 0.08 reaches outside the model\'s plausible region ' +
          "(the centre within the ellipse about (0.5, 0.5) with half-axes 0.3 − radius, 0.36 − radius)",
      },
    ]);
    // the corner of a centre rectangle counts: each side alone fits, together they do not
    expect(checkScenarioAgainstModel(brainSpec({ lesionX: { kind: "uniform", min: 0.3, max: 0.7 }, lesionY: { kind: "uniform", min: 0.3, max: 0.7 } }), brain)).toHaveLength(1);
  });
});
