// Model packages: manifest validation, condition encoding, labels derived from the condition.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ConditionError,
  deriveLabels,
  encodeCondition,
  loadModelPackage,
  modelManifestSchema,
  ModelPackageError,
  resolveModelDir,
  unconditionalVector,
} from "../../src/models/index.ts";

const tinyDir = fileURLToPath(new URL("../fixtures/tiny-model/", import.meta.url));
const latentDir = fileURLToPath(new URL("../fixtures/tiny-model/latent/", import.meta.url));
const rawManifest = () => JSON.parse(readFileSync(`${tinyDir}model.json`, "utf8")) as Record<string, unknown> & { condition: { fields: Record<string, unknown>[]; unconditional: number[] } };

describe("model packages", () => {
  it("loads and verifies the tiny packages", () => {
    const tiny = loadModelPackage(tinyDir);
    expect(tiny.manifest.name).toBe("tiny-model");
    expect(Object.keys(tiny.fileHashes)).toEqual(["denoiser.onnx"]);
    const latent = loadModelPackage(latentDir);
    expect(latent.decoderPath).toMatch(/decoder\.onnx$/);
  });

  it("takes optional fast sampling settings with a sampler, whole steps and a guidance", () => {
    const fast = { ...rawManifest(), fast: { sampler: "euler", steps: 10, guidance: 3, evidence: "BENCHMARKS.md" } };
    expect(modelManifestSchema.parse(fast).fast).toEqual({ sampler: "euler", steps: 10, guidance: 3, evidence: "BENCHMARKS.md" });
    expect(modelManifestSchema.parse(rawManifest()).fast).toBeUndefined();
    for (const bad of [{ sampler: "euler", steps: 0, guidance: 3 }, { sampler: "euler", steps: 2.5, guidance: 3 }, { steps: 10, guidance: 3 }, { sampler: "euler", steps: 10 }]) {
      expect(modelManifestSchema.safeParse({ ...rawManifest(), fast: bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("refuses a directory without model.json", () => {
    expect(() => loadModelPackage(`${tinyDir}/nowhere`)).toThrow(ModelPackageError);
  });

  it("validates the manifest's condition layout", () => {
    const overlapping = rawManifest();
    (overlapping.condition.fields[1] as { offset: number }).offset = 2; // hazardCx onto the one-hot
    expect(modelManifestSchema.safeParse(overlapping).success).toBe(false);
    const short = rawManifest();
    short.condition.unconditional = [0];
    const result = modelManifestSchema.safeParse(short);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toMatch(/has 1 entries, condition.width is 10/);
    const badFormat = { ...rawManifest(), image: { width: 16, height: 16, channels: 3, valueRange: [-1, 1], format: "tiff" } };
    expect(JSON.stringify(modelManifestSchema.safeParse(badFormat).error?.issues)).toMatch(/png-rgb8.*png-gray16.*dicom-gray16/);
  });
});

describe("derived packages", () => {
  const derivedFrom = { name: "tiny-model", version: "1.0.0", denoiserSha256: "a".repeat(64), method: "qdq-int8-static", calibration: "ranges over 4 DDIM trajectories" };

  it("derivedFrom is optional, and when given names the base, its denoiser hash and a known method", () => {
    expect(modelManifestSchema.safeParse(rawManifest()).success).toBe(true);
    const parsed = modelManifestSchema.safeParse({ ...rawManifest(), derivedFrom });
    expect(parsed.success).toBe(true);
    expect(parsed.data?.derivedFrom?.method).toBe("qdq-int8-static");
  });

  it("refuses an unknown method, a hash that is no sha256 and a base name that is a path", () => {
    for (const bad of [{ method: "fp16" }, { denoiserSha256: "abc" }, { name: "../tiny-model" }, { calibration: "" }])
      expect(modelManifestSchema.safeParse({ ...rawManifest(), derivedFrom: { ...derivedFrom, ...bad } }).success, JSON.stringify(bad)).toBe(false);
  });
});

describe("plausible geometry in the label rules", () => {
  const shipped = (name: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../../models/${name}/model.json`, import.meta.url)), "utf8"));
  const boxRule = (plausible: unknown) => ({
    ...rawManifest(),
    labels: [{ kind: "box", class: "hazard", cx: "hazardCx", cy: "hazardCy", w: "hazardW", h: "hazardH", absentWhen: ["none"], plausible }],
  });
  const box = { w: [0.03, 0.5], h: [0.03, 0.6], aspect: [0.2, 0.9] };
  const issues = (manifest: unknown) => modelManifestSchema.safeParse(manifest).error?.issues.map((i) => [i.path.join("."), i.message]);

  it("the shipped diffusion manifests declare it for every class they label", () => {
    const road = modelManifestSchema.parse(shipped("road-hazards")).labels[0]!;
    expect(road.kind === "box" && Object.keys(road.plausible ?? {})).toEqual(["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"]);
    expect(road.plausible?.pedestrian).toEqual({ w: [0.03, 0.63], h: [0.03, 0.7], aspect: [0.2, 0.9] });
    const brain = modelManifestSchema.parse(shipped("brain-mri")).labels[0]!;
    expect(brain.kind === "circle" && brain.plausible?.lesions).toEqual({ radius: [0.05, 0.13], within: { cx: 0.5, cy: 0.5, rx: 0.3, ry: 0.36 }, foci: [4, 7] });
  });

  it("is optional, and when given names each labelled class once and no other", () => {
    expect(modelManifestSchema.safeParse(boxRule(undefined)).success).toBe(true);
    expect(modelManifestSchema.safeParse(boxRule({ pedestrian: box, cone: box })).success).toBe(true);
    expect(issues(boxRule({ pedestrian: box }))).toEqual([["labels.0.plausible", 'has no entry for class "cone"']]);
    expect(issues(boxRule({ pedestrian: box, cone: box, none: box }))).toEqual([["labels.0.plausible", '"none" is not a labelled class of hazard; classes: pedestrian, cone']]);
    expect(issues(boxRule({ pedestrian: { ...box, aspect: [0.9, 0.2] }, cone: box }))?.[0]).toEqual(["labels.0.plausible.pedestrian.aspect", "range [lo, hi] with hi > lo"]);
  });

  it("refuses a circle whose largest radius leaves no room for its centre", () => {
    const latent = JSON.parse(readFileSync(`${latentDir}model.json`, "utf8"));
    const withRadius = (radius: number[]) => ({ ...latent, labels: [{ ...latent.labels[0], plausible: { tumour: { radius, within: { cx: 0.5, cy: 0.5, rx: 0.3, ry: 0.36 } } } }] });
    expect(modelManifestSchema.safeParse(withRadius([0.05, 0.2])).success).toBe(true);
    expect(issues(withRadius([0.05, 0.3]))).toEqual([["labels.0.plausible", '"tumour": a radius up to 0.3 leaves no room for the centre within half-axes 0.3, 0.36']]);
  });
});

describe("model names", () => {
  it("resolves a package name to its directory under the models directory", () => {
    expect(resolveModelDir("brain-mri", "/srv/models")).toBe("/srv/models/brain-mri");
  });

  it("refuses a name that is a path (../../../etc, /etc, a/b, .hidden) as invalid-name, never resolving it", () => {
    for (const name of ["../../../etc", "/etc", "a/b", ".hidden", "..", "Brain-MRI", ""]) {
      let error: unknown;
      try {
        resolveModelDir(name, "/srv/models");
      } catch (thrown) {
        error = thrown;
      }
      expect(error, name).toBeInstanceOf(ModelPackageError);
      expect((error as ModelPackageError).code, name).toBe("invalid-name");
      expect((error as Error).message, name).toBe(`"${name}" is not a model package name (lowercase letters, digits and dashes, e.g. brain-mri)`);
    }
  });
});

describe("condition encoding", () => {
  const manifest = loadModelPackage(tinyDir).manifest;
  const parameters = { hazard: "cone", hazardCx: 0.25, hazardCy: 0.5, hazardW: 0.1, hazardH: 0.2, weather: "rain" };

  it("one-hot for categorical fields, (v - lo)/(hi - lo) for scalars", () => {
    expect(Array.from(encodeCondition(manifest, parameters))).toEqual([0, 0, 1, 0.25, 0.5, 0.10000000149011612, 0.20000000298023224, 0, 1, 0]);
    expect(Array.from(unconditionalVector(manifest))).toEqual(new Array(10).fill(0));
  });

  it("lists every way parameters fail to fit", () => {
    try {
      encodeCondition(manifest, { ...parameters, hazard: "moose", hazardCx: -1, weather: undefined as never, extra: 1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConditionError);
      expect((error as ConditionError).issues).toEqual([
        '"hazard" is "moose"; allowed: none, pedestrian, cone',
        '"hazardCx" = -1 is outside [0, 1]',
        'missing "weather"',
        'unknown parameter "extra"; the model\'s fields: hazard, hazardCx, hazardCy, hazardW, hazardH, weather',
      ]);
    }
  });
});

describe("ground-truth labels", () => {
  it("a box field plus a class field give a labelled box in pixels; 'none' gives nothing", () => {
    const manifest = loadModelPackage(tinyDir).manifest;
    const base = { hazardCx: 0.5, hazardCy: 0.25, hazardW: 0.5, hazardH: 0.25, weather: "clear" };
    expect(deriveLabels(manifest, { ...base, hazard: "pedestrian" }).boxes).toEqual([
      { class: "pedestrian", x: 4, y: 2, width: 8, height: 4, fraction: { cx: 0.5, cy: 0.25, w: 0.5, h: 0.25 } },
    ]);
    expect(deriveLabels(manifest, { ...base, hazard: "none" })).toEqual({ boxes: [], masks: [] });
  });

  it("a lesion centre and radius give a box and a disk mask", () => {
    const manifest = loadModelPackage(latentDir).manifest;
    const { boxes, masks } = deriveLabels(manifest, { pathology: "tumour", lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.125 });
    expect(boxes[0]).toMatchObject({ class: "tumour", x: 6, y: 6, width: 4, height: 4 });
    const mask = masks[0]!;
    expect(mask.data[8 * 16 + 8]).toBe(1);
    expect(mask.data[0]).toBe(0);
    expect(mask.data.reduce((a, b) => a + b, 0)).toBe(12); // pixel centres within 2 px of (8, 8)
  });
});
