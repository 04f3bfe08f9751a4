// Calibrated scalar controls: a field's `calibration` maps a requested value to the one fed to the model, and
// a sample's record keeps both.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generateSamples } from "../../src/diffusion/index.ts";
import { reproduceFromRecord, ReproductionError } from "../../src/generation/index.ts";
import { calibratedValue, encodeCondition, loadModelPackage, modelManifestSchema, type ConditionField } from "../../src/models/index.ts";

const tinyDir = fileURLToPath(new URL("../fixtures/tiny-model/", import.meta.url));
type Manifest = { condition: { fields: Array<Record<string, unknown>> } };
const rawTiny = () => JSON.parse(readFileSync(`${tinyDir}model.json`, "utf8")) as Manifest;
const shipped = (name: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../../models/${name}/model.json`, import.meta.url)), "utf8"));
const provenanceOfMap = { measuredBy: "a test", command: "none" };
const parameters = { hazard: "cone", hazardCx: 0.25, hazardCy: 0.5, hazardW: 0.1, hazardH: 0.2, weather: "rain" };

/** The tiny model's manifest with hazardCx (offset 3, range [0, 1]) calibrated by `points`. */
function calibratedTiny(points: number[][]): Manifest {
  const raw = rawTiny();
  raw.condition.fields[1] = { ...raw.condition.fields[1], calibration: { points, ...provenanceOfMap } };
  return raw;
}
const scalar = (range: [number, number], points?: [number, number][]): Extract<ConditionField, { kind: "scalar" }> => ({
  name: "x", kind: "scalar", range, offset: 0, width: 1, ...(points ? { calibration: { points, ...provenanceOfMap } } : {}),
});

describe("calibratedValue", () => {
  it("is the request itself when the field has no calibration", () => {
    for (const v of [0.25, 0.4, 1]) expect(calibratedValue(scalar([0.25, 1]), v)).toBe(v);
    const tiny = modelManifestSchema.parse(rawTiny());
    expect(encodeCondition(tiny, parameters)[3]).toBe(0.25);
  });

  it("interpolates linearly between the points", () => {
    const field = scalar([0, 1], [[0, 0], [0.5, 0.3], [1, 0.8]]);
    expect(calibratedValue(field, 0.25)).toBeCloseTo(0.15, 12);
    expect(calibratedValue(field, 0.5)).toBeCloseTo(0.3, 12);
    expect(calibratedValue(field, 0.75)).toBeCloseTo(0.55, 12);
  });

  it("is monotone over the whole range", () => {
    const field = scalar([0.25, 1], [[0.25, 0.25], [0.4, 0.26], [0.55, 0.35], [1, 0.9]]);
    let previous = -Infinity;
    for (let v = 0.25; v <= 1; v += 0.01) {
      const encoded = calibratedValue(field, v);
      expect(encoded).toBeGreaterThanOrEqual(previous);
      previous = encoded;
    }
  });

  it("holds the end points' values beyond them and never leaves the field's range", () => {
    const field = scalar([0, 1], [[0.2, 0.1], [0.8, 0.9]]);
    expect(calibratedValue(field, 0)).toBe(0.1);
    expect(calibratedValue(field, 1)).toBe(0.9);
    // A map the schema would refuse still cannot feed the model a value outside the range.
    expect(calibratedValue(scalar([0, 1], [[0, -0.5], [1, 1.5]]), 0)).toBe(0);
    expect(calibratedValue(scalar([0, 1], [[0, -0.5], [1, 1.5]]), 1)).toBe(1);
  });
});

describe("a map with an encodedRange past the field's range", () => {
  const below = (points: number[][], encodedRange?: number[]) => {
    const raw = calibratedTiny(points);
    if (encodedRange) (raw.condition.fields[1]!.calibration as Record<string, unknown>).encodedRange = encodedRange;
    return raw;
  };

  it("feeds values below the range's floor, down to the encoded range's, and encodes them below 0", () => {
    const manifest = modelManifestSchema.parse(below([[0, -0.4], [0.5, 0.2], [1, 1]], [-0.5, 1]));
    const field = manifest.condition.fields[1]!;
    if (field.kind !== "scalar") throw new Error("hazardCx is a scalar");
    expect(calibratedValue(field, 0)).toBeCloseTo(-0.4, 12);
    expect(calibratedValue(field, 0.25)).toBeCloseTo(-0.1, 12);
    // the slot is (v - lo) / (hi - lo) of the field's own range: below 0 here
    expect(encodeCondition(manifest, { ...parameters, hazardCx: 0 })[3]).toBeCloseTo(-0.4, 6);
    // requests outside the field's range are still refused before anything is encoded
    expect(() => encodeCondition(manifest, { ...parameters, hazardCx: -0.1 })).toThrow(/hazardCx/);
  });

  it("is clamped to the encoded range, and refused when it does not hold the field's range or a point leaves it", () => {
    const field = scalar([0, 1], [[0, -0.9], [1, 1]]);
    const wide = { ...field, calibration: { ...field.calibration!, encodedRange: [-0.5, 1] as [number, number] } };
    expect(calibratedValue(wide, 0)).toBe(-0.5);
    const issues = (points: number[][], encodedRange: number[]) => modelManifestSchema.safeParse(below(points, encodedRange)).error?.issues.map((i) => i.message) ?? [];
    expect(issues([[0, -0.4], [1, 1]], [-0.5, 1])).toEqual([]);
    expect(issues([[0, -0.6], [1, 1]], [-0.5, 1])).toEqual(["point 0 [0, -0.6] feeds a value outside the encoded range [-0.5, 1]"]);
    expect(issues([[0, 0.1], [1, 0.9]], [0.1, 0.9])).toEqual(["encodedRange [0.1, 0.9] must hold the field's range [0, 1]"]);
    // without one, the field's range bounds what is fed
    expect(modelManifestSchema.safeParse(below([[0, -0.4], [1, 1]])).error?.issues.map((i) => i.message)).toEqual(["point 0 [0, -0.4] feeds a value outside the encoded range [0, 1]"]);
  });
});

describe("the manifest's calibration", () => {
  it("encodes a requested value to the mapped one", () => {
    const manifest = modelManifestSchema.parse(calibratedTiny([[0, 0], [0.5, 0.3], [1, 0.8]]));
    const vector = encodeCondition(manifest, { ...parameters, hazardCx: 0.75 });
    expect(vector[3]).toBeCloseTo(0.55, 6);
    expect(vector[4]).toBe(0.5); // uncalibrated fields are untouched
  });

  it("is refused unless monotone, inside the field's range and with at least two points", () => {
    const issues = (points: number[][]) => modelManifestSchema.safeParse(calibratedTiny(points)).error?.issues.map((i) => i.message) ?? [];
    expect(issues([[0, 0], [1, 1]])).toEqual([]);
    expect(issues([[0, 0.5], [1, 0.4]])).toEqual(["point 1: encoded values must not decrease (0.5 then 0.4)"]);
    expect(issues([[0.5, 0], [0.5, 1]])).toEqual(["point 1: requested values must increase (0.5 then 0.5)"]);
    expect(issues([[0, 0], [1, 1.2]])).toEqual(["point 1 [1, 1.2] feeds a value outside the encoded range [0, 1]"]);
    expect(issues([[-0.1, 0], [1, 1]])).toEqual(["point 0 [-0.1, 0] requests a value outside the range [0, 1]"]);
    expect(issues([[0, 0]])).toHaveLength(1);
  });

  it("the shipped brain-mri calibrates lesionContrast with a measured, monotone map", () => {
    const brain = modelManifestSchema.parse(shipped("brain-mri"));
    const field = brain.condition.fields.find((f) => f.name === "lesionContrast");
    expect(field?.kind === "scalar" && field.calibration).toMatchObject({ measuredBy: expect.any(String), command: expect.stringContaining("contrast_calibration.py") });
    if (field?.kind !== "scalar" || !field.calibration) return;
    expect(Object.keys(field.calibration.byValue?.points ?? {})).toEqual(["tumour", "haemorrhage", "lesions"]);
    // per pathology, maps along the lesion radius (training/README.md section 17): a request at a map's own radius
    // is fed that map's value
    const across = field.calibration.byValue?.across;
    expect(across?.field).toBe("lesionRadius");
    expect(Object.keys(across?.maps ?? {})).toEqual(["tumour", "haemorrhage", "lesions"]);
    for (const [pathology, maps] of Object.entries(across!.maps)) {
      expect(maps.at.length).toBeGreaterThanOrEqual(2);
      maps.at.forEach((radius, k) => {
        const [requested, encoded] = maps.points[k]![2]!;
        const vector = encodeCondition(brain, { pathology, lesionX: 0.5, lesionY: 0.5, lesionRadius: radius, lesionContrast: requested });
        expect(vector[7]).toBeCloseTo((encoded - 0.25) / 0.75, 6);
      });
    }
  });
});

describe("the sampling a map was measured at (measuredAt)", () => {
  const measured = (guidance: number, fast?: number) => {
    const raw = calibratedTiny([[0, 0], [1, 1]]) as Manifest & { defaults: Record<string, unknown>; fast?: Record<string, unknown> };
    (raw.condition.fields[1]!.calibration as Record<string, unknown>).measuredAt = { sampler: "ddim", steps: 10, guidance };
    if (fast !== undefined) raw.fast = { sampler: "ddim", steps: 5, guidance: fast, evidence: "a test" };
    return raw;
  };
  const messages = (raw: unknown) => modelManifestSchema.safeParse(raw).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];

  it("serves the default guidance it was measured at (the tiny model's default is 3), other steps included", () => {
    expect(messages(measured(3))).toEqual([]);
    expect(messages(measured(3, 3))).toEqual([]);
  });

  it("is refused when the defaults or the fast setting sample at another guidance, naming the field and both scales", () => {
    expect(messages(measured(1.5))).toEqual([
      'defaults.guidance: is 3, but the calibration map of "hazardCx" was measured at guidance 1.5 (condition.fields[1].calibration.measuredAt): measure the map again at the new default (its command), or keep 1.5',
    ]);
    expect(messages(measured(3, 1.5))).toEqual([
      'fast.guidance: is 1.5, but the calibration map of "hazardCx" was measured at guidance 3 (condition.fields[1].calibration.measuredAt)',
    ]);
  });

  it("the shipped brain-mri's map was measured at its own default sampling", () => {
    const brain = modelManifestSchema.parse(shipped("brain-mri"));
    const field = brain.condition.fields.find((f) => f.name === "lesionContrast");
    if (field?.kind !== "scalar" || !field.calibration) throw new Error("brain-mri calibrates lesionContrast");
    expect(field.calibration.measuredAt).toEqual({ sampler: brain.defaults.sampler, steps: brain.defaults.steps, guidance: brain.defaults.guidance });
  });
});

describe("maps per value of a categorical field (byValue)", () => {
  const withByValue = (byValue: unknown) => {
    const raw = calibratedTiny([[0, 0], [1, 1]]);
    (raw.condition.fields[1]!.calibration as Record<string, unknown>).byValue = byValue;
    return raw;
  };

  it("uses the map of the sample's value, and the pooled points for values without one", () => {
    const manifest = modelManifestSchema.parse(withByValue({ field: "hazard", points: { cone: [[0, 0], [1, 0.5]] } }));
    expect(encodeCondition(manifest, { ...parameters, hazard: "cone", hazardCx: 0.5 })[3]).toBeCloseTo(0.25, 6);
    expect(encodeCondition(manifest, { ...parameters, hazard: "pedestrian", hazardCx: 0.5 })[3]).toBeCloseTo(0.5, 6);
  });

  it("is refused when its field is not categorical, a value is unknown, or a map is not monotone", () => {
    const messages = (byValue: unknown) => modelManifestSchema.safeParse(withByValue(byValue)).error?.issues.map((i) => i.message) ?? [];
    expect(messages({ field: "hazardCy", points: {} })).toEqual(['"hazardCy" is not a categorical field']);
    expect(messages({ field: "hazard", points: { moose: [[0, 0], [1, 1]] } })).toEqual(['"moose" is not a value of "hazard"']);
    expect(messages({ field: "hazard", points: { cone: [[0, 1], [1, 0]] } })).toEqual(["point 1: encoded values must not decrease (1 then 0)"]);
  });
});

describe("maps placed along another scalar field (byValue.across)", () => {
  // hazardCx calibrated per hazard, and for cones also by hazardW: the map [0, 0]-[1, 0.5] at width 0.1 and
  // [0, 0.2]-[1, 1] at width 0.3
  const across = (maps: unknown, field = "hazardW") => {
    const raw = calibratedTiny([[0, 0], [1, 1]]);
    (raw.condition.fields[1]!.calibration as Record<string, unknown>).byValue = {
      field: "hazard", points: { cone: [[0, 0], [1, 0.9]] }, across: { field, maps },
    };
    return raw;
  };
  const coneMaps = { cone: { at: [0.1, 0.3], points: [[[0, 0], [1, 0.5]], [[0, 0.2], [1, 1]]] } };
  const encode = (manifest: ReturnType<typeof modelManifestSchema.parse>, p: Record<string, string | number>) => encodeCondition(manifest, { ...parameters, ...p })[3]!;

  it("reads each map at the request and interpolates by the sample's value of the other field", () => {
    const manifest = modelManifestSchema.parse(across(coneMaps));
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.1 })).toBeCloseTo(0.25, 6);
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.3 })).toBeCloseTo(0.6, 6);
    // halfway between the positions: halfway between 0.25 and 0.6
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.2 })).toBeCloseTo(0.425, 6);
    // beyond the end positions: the end maps
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.05 })).toBeCloseTo(0.25, 6);
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.9 })).toBeCloseTo(0.6, 6);
  });

  it("falls back to the value's own map, then the pooled one, where it has no maps", () => {
    const manifest = modelManifestSchema.parse(across({ pedestrian: coneMaps.cone }));
    expect(encode(manifest, { hazard: "cone", hazardCx: 0.5, hazardW: 0.3 })).toBeCloseTo(0.45, 6);
    expect(encode(manifest, { hazard: "none", hazardCx: 0.5, hazardW: 0.3 })).toBeCloseTo(0.5, 6);
    expect(encode(manifest, { hazard: "pedestrian", hazardCx: 0.5, hazardW: 0.3 })).toBeCloseTo(0.6, 6);
  });

  it("stays monotone in the request at every position", () => {
    const manifest = modelManifestSchema.parse(across(coneMaps));
    for (const w of [0.05, 0.1, 0.17, 0.25, 0.3, 0.6]) {
      let previous = -Infinity;
      for (let v = 0; v <= 1; v += 0.02) {
        const encoded = encode(manifest, { hazard: "cone", hazardCx: v, hazardW: w });
        expect(encoded).toBeGreaterThanOrEqual(previous - 1e-7);
        previous = encoded;
      }
    }
  });

  it("is refused naming the problem: not another scalar field, an unknown value, positions out of order or range, a count mismatch, a map not monotone", () => {
    const messages = (maps: unknown, field?: string) => modelManifestSchema.safeParse(across(maps, field)).error?.issues.map((i) => i.message) ?? [];
    expect(messages(coneMaps, "weather")).toEqual(['"weather" is not another scalar field']);
    expect(messages(coneMaps, "hazardCx")).toEqual(['"hazardCx" is not another scalar field']);
    expect(messages({ moose: coneMaps.cone })).toEqual(['"moose" is not a value of "hazard"']);
    expect(messages({ cone: { ...coneMaps.cone, at: [0.3, 0.1] } })).toEqual(["positions must increase (0.3 then 0.1)"]);
    expect(messages({ cone: { ...coneMaps.cone, at: [0.1, 1.5] } })).toEqual(['1.5 is outside "hazardW"\'s range [0, 1]']);
    expect(messages({ cone: { at: [0.1, 0.2, 0.3], points: coneMaps.cone.points } })).toEqual(["has 3 positions (at) but 2 maps"]);
    expect(messages({ cone: { at: [0.1, 0.3], points: [[[0, 0], [1, 0.5]], [[0, 1], [1, 0]]] } })).toEqual(["point 1: encoded values must not decrease (1 then 0)"]);
  });
});

describe("provenance of a calibrated request", () => {
  it("the record keeps the requested value in parameters, both values in calibrated, the encoding in condition", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rf-calibrated-"));
    cpSync(tinyDir, dir, { recursive: true });
    writeFileSync(join(dir, "model.json"), JSON.stringify(calibratedTiny([[0, 0], [0.5, 0.3], [1, 0.8]])));
    const model = loadModelPackage(dir);
    const [sample] = await generateSamples({ model, sampler: "ddim", steps: 2, guidance: 1, seed: 1, indices: [0], parameters: [{ ...parameters, hazardCx: 0.75 }] });
    expect(sample!.record.parameters.hazardCx).toBe(0.75);
    expect(sample!.record.calibrated).toEqual({ hazardCx: { requested: 0.75, encoded: expect.closeTo(0.55, 12) } });
    expect(sample!.record.condition?.[3]).toBeCloseTo(0.55, 6);
  });

  it("names the guidance the map was measured at when the sample is drawn at another one, and only then", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rf-calibrated-"));
    cpSync(tinyDir, dir, { recursive: true });
    const raw = calibratedTiny([[0, 0], [0.5, 0.3], [1, 0.8]]);
    (raw.condition.fields[1]!.calibration as Record<string, unknown>).measuredAt = { sampler: "ddim", steps: 10, guidance: 3 };
    writeFileSync(join(dir, "model.json"), JSON.stringify(raw));
    const model = loadModelPackage(dir);
    const at = async (guidance: number) =>
      (await generateSamples({ model, sampler: "ddim", steps: 2, guidance, seed: 1, indices: [0], parameters: [{ ...parameters, hazardCx: 0.75 }] }))[0]!.record;
    expect((await at(3)).calibrated).toEqual({ hazardCx: { requested: 0.75, encoded: expect.closeTo(0.55, 12) } });
    const other = await at(1.5);
    expect(other.calibrated).toEqual({ hazardCx: { requested: 0.75, encoded: expect.closeTo(0.55, 12), measuredAtGuidance: 3 } });
    expect(other.guidance).toBe(1.5);
  });

  it("a model without calibration writes no calibrated key", async () => {
    const [sample] = await generateSamples({ model: loadModelPackage(tinyDir), sampler: "ddim", steps: 2, guidance: 1, seed: 1, indices: [0], parameters: [parameters] });
    expect(sample!.record).not.toHaveProperty("calibrated");
  });
});

describe("reproducing a record after the calibration changed", () => {
  it("is refused, naming the changed encoding, rather than giving other bytes", async () => {
    const [sample] = await generateSamples({ model: loadModelPackage(tinyDir), sampler: "ddim", steps: 2, guidance: 1, seed: 1, indices: [0], parameters: [parameters] });
    const modelsDir = mkdtempSync(join(tmpdir(), "rf-models-"));
    cpSync(tinyDir, join(modelsDir, "tiny-model"), { recursive: true });
    writeFileSync(join(modelsDir, "tiny-model", "model.json"), JSON.stringify(calibratedTiny([[0, 0], [0.5, 0.3], [1, 0.8]])));
    await expect(reproduceFromRecord(sample!.record, modelsDir)).rejects.toThrow(ReproductionError);
    await expect(reproduceFromRecord(sample!.record, modelsDir)).rejects.toThrow(/calibration changed/);
  });
});
