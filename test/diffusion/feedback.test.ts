// Sampling-time feedback (src/diffusion/feedback.ts) against the PyTorch reference's fixture
// (training/contrast_calibration.py fixture: test/fixtures/brain-mri/feedback/), and the manifest rules that guard it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { denoiseBatch, generateSamples, openConditionRuntime, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { reproduceFromRecord, ReproductionError } from "../../src/generation/index.ts";
import { feedbackFactor, meterFeatures, ringLevel, scaleCircle } from "../../src/diffusion/feedback.ts";
import { createScheduler } from "../../src/diffusion/schedulers/index.ts";
import { loadModelPackage, ModelPackageError, modelManifestSchema, type ScalarFeedback, type ScenarioParameters } from "../../src/models/index.ts";
import { maxAbsDiff, meanAbsDiff, readF32, StoredNoise } from "../models/golden.ts";

const modelDir = fileURLToPath(new URL("../../models/brain-mri/", import.meta.url));
const fixtureDir = fileURLToPath(new URL("../fixtures/brain-mri/feedback/", import.meta.url));

interface FeedbackFixture {
  denoiserSha256: string;
  meterSha256: string;
  field: string;
  feedback: ScalarFeedback;
  meter: { images: string; shape: [number, number, number]; circles: [number, number, number][]; classes: number[]; features: string; width: number; readings: number[] };
  trajectory: { sampler: "ddim"; steps: number; guidance: number; parameters: ScenarioParameters[]; noise: string; conditions: string; final: string; plain: string };
}
const fixture = JSON.parse(readFileSync(join(fixtureDir, "golden.json"), "utf8")) as FeedbackFixture;
const model = loadModelPackage(modelDir);
const field = model.manifest.condition.fields.find((f) => f.name === fixture.field);
const spec = field?.kind === "scalar" ? field.feedback : undefined;

describe("the shipped brain-mri's feedback is the one the fixture was made with", () => {
  it("same denoiser, same meter file, same settings", () => {
    expect(spec).toEqual(fixture.feedback);
    expect(model.fileHashes["denoiser.onnx"]).toBe(fixture.denoiserSha256);
    expect(model.fileHashes[fixture.feedback.meter]).toBe(fixture.meterSha256);
  });
});

describe("the meter's features and readings match the reference", () => {
  const [count, size] = fixture.meter.shape;
  const images = readF32(fixtureDir, fixture.meter.images);
  const expected = readF32(fixtureDir, fixture.meter.features);
  const image = (k: number) => images.slice(k * size * size, (k + 1) * size * size);
  const circle = (k: number) => ({ cx: fixture.meter.circles[k]![0], cy: fixture.meter.circles[k]![1], radius: fixture.meter.circles[k]![2] });

  it("meterFeatures equals served.meter_features on renders of every pathology", () => {
    for (let k = 0; k < count; k++) {
      const ours = meterFeatures(image(k), size, circle(k), fixture.meter.classes[k]!, spec!);
      expect(ours.length).toBe(fixture.meter.width);
      expect(maxAbsDiff(ours, expected.slice(k * fixture.meter.width, (k + 1) * fixture.meter.width))).toBeLessThan(1e-5);
    }
  });

  it("the ONNX meter reads what the torch meter read", async () => {
    const runtime = await openConditionRuntime(model);
    try {
      const meter = runtime.meters.get(fixture.field)!;
      const out = await meter.run({ [spec!.input]: { type: "float32", data: expected, dims: [count, fixture.meter.width] } });
      expect(maxAbsDiff(out[spec!.output]!.data as Float32Array, fixture.meter.readings)).toBeLessThan(1e-5);
      // the readings are not constant: the renders' contrasts differ, and so does what the meter reads
      expect(Math.max(...fixture.meter.readings) - Math.min(...fixture.meter.readings)).toBeGreaterThan(0.1);
    } finally {
      await runtime.dispose();
    }
  });
});

describe("a guided DDIM trajectory with feedback ends where the reference's did", () => {
  let runtime: ConditionRuntime;
  beforeAll(async () => {
    runtime = await openConditionRuntime(model);
  });
  afterAll(async () => runtime.dispose());

  const run = async (parameters?: ScenarioParameters[]) => {
    const { steps, guidance } = fixture.trajectory;
    const noise = readF32(fixtureDir, fixture.trajectory.noise);
    const n = noise.length / fixture.trajectory.parameters.length;
    const scheduler = createScheduler("ddim", { schedule: model.manifest.denoiser.schedule, prediction: model.manifest.denoiser.prediction, eta: 0 });
    return denoiseBatch({
      runtime,
      scheduler,
      steps,
      guidance,
      conditions: readF32(fixtureDir, fixture.trajectory.conditions),
      noise: fixture.trajectory.parameters.map((_, b) => new StoredNoise(noise.slice(b * n, (b + 1) * n))),
      ...(parameters ? { parameters } : {}),
    });
  };

  it("with each sample's parameters: the reference's final, and a clearly different one from the plain trajectory", async () => {
    const final = readF32(fixtureDir, fixture.trajectory.final);
    const plain = readF32(fixtureDir, fixture.trajectory.plain);
    const ours = await run(fixture.trajectory.parameters);
    const error = meanAbsDiff(ours, final);
    expect(error).toBeLessThan(2e-4);
    expect(maxAbsDiff(ours, final)).toBeLessThan(2e-2);
    // the feedback moved the samples far more than the runtime differs from the reference
    expect(maxAbsDiff(final, plain)).toBeGreaterThan(0.1);
    expect(meanAbsDiff(ours, plain)).toBeGreaterThan(10 * error);
  });

  it("without parameters (condition vectors alone) it samples as before: the plain trajectory", async () => {
    expect(meanAbsDiff(await run(), readF32(fixtureDir, fixture.trajectory.plain))).toBeLessThan(2e-4);
  });

  it("a sample of a class it does not hold is left alone, the others are held as the reference held them", async () => {
    const held = spec!.holds ?? spec!.classes;
    const parameters = fixture.trajectory.parameters;
    const ours = await run(parameters);
    const final = readF32(fixtureDir, fixture.trajectory.final);
    const plain = readF32(fixtureDir, fixture.trajectory.plain);
    const n = plain.length / parameters.length;
    parameters.forEach((p, b) => {
      const slice = (x: Float32Array) => x.slice(b * n, (b + 1) * n);
      const error = meanAbsDiff(slice(ours), slice(final));
      expect(error).toBeLessThan(2e-4);
      // held: moved off the plain trajectory by more than the runtime differs from the reference; not held: on it
      if (held.includes(String(p.pathology))) expect(meanAbsDiff(slice(final), slice(plain))).toBeGreaterThan(3 * error);
      else expect(meanAbsDiff(slice(ours), slice(plain))).toBeLessThan(2e-4);
    });
  });

  it("a sample whose class the meter does not read (no pathology) is left alone", async () => {
    const parameters = fixture.trajectory.parameters.map((p, b) => (b === 0 ? { ...p, pathology: "none" } : p));
    const ours = await run(parameters);
    const plain = readF32(fixtureDir, fixture.trajectory.plain);
    const n = plain.length / parameters.length;
    expect(meanAbsDiff(ours.slice(0, n), plain.slice(0, n))).toBeLessThan(2e-4);
    expect(meanAbsDiff(ours.slice(n), plain.slice(n))).toBeGreaterThan(1e-3);
  });
});

describe("a sample's provenance record says how it was held, and reproduction checks it", () => {
  const modelsDir = fileURLToPath(new URL("../../models/", import.meta.url));
  const generate = (parameters: ScenarioParameters[]) =>
    generateSamples({ model, sampler: "ddim", steps: 2, guidance: 1.5, seed: 3, indices: parameters.map((_, i) => i), parameters });

  it("a held sample's record names the request, the meter's sha256 and the settings; an unheld one has no entry", async () => {
    const [lesion, none] = await generate([fixture.trajectory.parameters[0]!, { ...fixture.trajectory.parameters[0]!, pathology: "none" }]);
    const { kind, fromStep, strength, maxRatio, feather } = spec!;
    expect(lesion!.record.held).toEqual({
      [fixture.field]: { requested: fixture.trajectory.parameters[0]![fixture.field], kind, meterSha256: fixture.meterSha256, fromStep, strength, maxRatio, feather },
    });
    expect(none!.record.held).toBeUndefined();
  });

  it("reproduceFromRecord refuses, naming the feedback, when the package would hold the sample otherwise than recorded", async () => {
    const [sample] = await generate([fixture.trajectory.parameters[1]!]);
    const { held: _held, ...unheld } = sample!.record;
    await expect(reproduceFromRecord(unheld, modelsDir)).rejects.toBeInstanceOf(ReproductionError);
    await expect(reproduceFromRecord(unheld, modelsDir)).rejects.toThrow(/holds the recorded parameters differently now \(its manifest's feedback changed/);
    const changed = { ...sample!.record, held: { [fixture.field]: { ...sample!.record.held![fixture.field]!, strength: 1 } } };
    await expect(reproduceFromRecord(changed, modelsDir)).rejects.toThrow(/feedback changed/);
    // as recorded, it reproduces, held the same way
    const again = await reproduceFromRecord(sample!.record, modelsDir);
    expect(again.record.held).toEqual(sample!.record.held);
  });
});

describe("the scaling rule", () => {
  const size = 16;
  const image = Float32Array.from({ length: size * size }, (_, i) => 0.4 + 0.3 * Math.sin(i));
  const circle = { cx: 0.5, cy: 0.5, radius: 0.2 };

  it("a factor of 1 changes nothing; pixels past the feather are never touched; the circle's deviation scales by k", () => {
    const level = ringLevel(image, size, circle, spec!.ring);
    expect(maxAbsDiff(scaleCircle(image, size, circle, level, 1, spec!.feather), image)).toBeLessThan(1e-7);
    const scaled = scaleCircle(image, size, circle, level, 1.5, spec!.feather);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const d = Math.hypot((x + 0.5) / size - 0.5, (y + 0.5) / size - 0.5) / 0.2;
        const i = y * size + x;
        if (d >= 1 + spec!.feather) expect(scaled[i]).toBe(image[i]);
        if (d <= 1) expect(scaled[i]! - level).toBeCloseTo(1.5 * (image[i]! - level), 6);
      }
  });

  it("asks for (requested / read) ^ strength, clamped to maxRatio both ways, and never divides by a reading near 0", () => {
    const s = { ...spec!, strength: 1, maxRatio: 2 };
    expect(feedbackFactor(0.5, 0.4, s)).toBeCloseTo(1.25, 12);
    expect(feedbackFactor(0.9, 0.3, s)).toBe(2);
    expect(feedbackFactor(0.25, 0.9, s)).toBe(0.5);
    expect(feedbackFactor(0.5, 0, s)).toBe(2);
    expect(feedbackFactor(0.5, 0.4, { ...s, strength: 0.5 })).toBeCloseTo(Math.sqrt(1.25), 12);
  });
});

describe("a meter that does not take what the manifest names is refused when the runtime opens it", () => {
  it("a typed error naming the meter's inputs and outputs and the field's, and no session left open", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rf-feedback-"));
    try {
      cpSync(modelDir, dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { condition: { fields: { name: string; feedback?: { input: string } }[] } };
      manifest.condition.fields.find((f) => f.name === fixture.field)!.feedback!.input = "pixels";
      writeFileSync(join(dir, "model.json"), JSON.stringify(manifest));
      const opened = openConditionRuntime(loadModelPackage(dir));
      await expect(opened).rejects.toBeInstanceOf(ModelPackageError);
      await expect(opened).rejects.toThrow(/meter contrast-meter.onnx has inputs \[features\] and outputs \[value\]; "lesionContrast"'s feedback names "pixels" and "value"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the manifest refuses feedback it cannot serve, naming the problem", () => {
  const raw = () => JSON.parse(readFileSync(join(modelDir, "model.json"), "utf8")) as Record<string, any>;
  const feedbackOf = (m: Record<string, any>) => m.condition.fields.find((f: { name: string }) => f.name === fixture.field).feedback;
  const issues = (m: Record<string, any>) => {
    const parsed = modelManifestSchema.safeParse(m);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("the shipped manifest passes", () => expect(issues(raw())).toEqual([]));

  it("a meter not listed in files", () => {
    const m = raw();
    delete m.files[feedbackOf(m).meter];
    expect(issues(m).join("\n")).toMatch(/feedback: meter "contrast-meter.onnx" is not listed in files/);
  });

  it("a class the circle's class field lacks", () => {
    const m = raw();
    feedbackOf(m).classes = ["tumour", "cyst"];
    expect(issues(m).join("\n")).toMatch(/class "cyst" is not a value of "pathology"/);
  });

  it("holding a class the meter does not read", () => {
    const m = raw();
    feedbackOf(m).holds = ["tumour", "none"];
    expect(issues(m).join("\n")).toMatch(/holds "none", which is not among its classes/);
  });

  it("no circle label to read and scale", () => {
    const m = raw();
    m.labels = [];
    expect(issues(m).join("\n")).toMatch(/needs exactly one circle label/);
  });

  it("a ring inside the circle, a three-channel image, a strength above 1", () => {
    const m = raw();
    feedbackOf(m).ring = [0.5, 1.5];
    expect(issues(m).join("\n")).toMatch(/ring \[0.5, 1.5\] must lie outside the circle/);
    const rgb = raw();
    rgb.image.channels = 3;
    expect(issues(rgb).join("\n")).toMatch(/needs a one-channel image/);
    const strong = raw();
    feedbackOf(strong).strength = 1.5;
    expect(issues(strong).join("\n")).toMatch(/feedback\.strength/);
  });
});
