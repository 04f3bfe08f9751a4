// Optimum export packages on the models side: scheduler_config.json mapped to a sampler and its options (closed
// sets, refusals listing the allowed values), prompt templates, and loading an installed export (view, hashes).
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SAMPLERS } from "../../src/diffusion/index.ts";
import { loadModelPackageAsync, parseSchedulerConfig, renderPrompt, SCHEDULER_CLASSES, templateFields, type ModelPackageError } from "../../src/models/index.ts";
import { OPTIMUM_FIXTURES } from "../diffusion/optimum/golden.ts";
import { installExport, roadManifest } from "../diffusion/optimum/install.ts";

const fixtureConfig = async (name: string) => JSON.parse(await readFile(join(OPTIMUM_FIXTURES, name, "scheduler", "scheduler_config.json"), "utf8")) as Record<string, unknown>;

describe("scheduler_config.json -> sampler and options", () => {
  it("maps SD 1.x's PNDM config to DDIM with leading spacing, steps_offset 1 and alpha-bar_0 at the end", async () => {
    expect(parseSchedulerConfig(await fixtureConfig("tiny-sd"))).toEqual({
      className: "PNDMScheduler",
      sampler: "ddim",
      schedule: { kind: "scaled_linear", trainSteps: 1000, betaStart: 0.00085, betaEnd: 0.012 },
      prediction: "epsilon",
      spacing: "leading",
      stepsOffset: 1,
      setAlphaToOne: false,
    });
  });

  it("maps every supported class to a sampler the runtime has, with each class's diffusers default spacing", () => {
    for (const [className, sampler] of Object.entries(SCHEDULER_CLASSES)) {
      expect(SAMPLERS).toContain(sampler);
      const settings = parseSchedulerConfig({ _class_name: className });
      expect(settings.sampler).toBe(sampler);
      expect(settings.spacing).toBe(sampler === "ddim" || sampler === "ddpm" ? "leading" : "linspace");
    }
  });

  it("reads v-prediction, trailing spacing and the cosine schedule", () => {
    const settings = parseSchedulerConfig({ _class_name: "EulerDiscreteScheduler", prediction_type: "v_prediction", timestep_spacing: "trailing", beta_schedule: "squaredcos_cap_v2", use_karras_sigmas: false });
    expect(settings).toMatchObject({ sampler: "euler", prediction: "v", spacing: "trailing", schedule: { kind: "cosine" } });
  });

  it("refuses an unknown class, value or option, listing what is allowed", () => {
    expect(() => parseSchedulerConfig({ _class_name: "LMSDiscreteScheduler" })).toThrow(/unknown scheduler class "LMSDiscreteScheduler"; allowed: DDIMScheduler, PNDMScheduler, DDPMScheduler/);
    expect(() => parseSchedulerConfig({ _class_name: "DDIMScheduler", prediction_type: "sample" })).toThrow(/unknown prediction_type "sample"; allowed: epsilon, v_prediction/);
    expect(() => parseSchedulerConfig({ _class_name: "DDIMScheduler", timestep_spacing: "karras" })).toThrow(/allowed: leading, linspace, trailing/);
    expect(() => parseSchedulerConfig({ _class_name: "DDIMScheduler", beta_schedule: "sigmoid" })).toThrow(/allowed: linear, scaled_linear, squaredcos_cap_v2/);
    expect(() => parseSchedulerConfig({ _class_name: "EulerDiscreteScheduler", use_karras_sigmas: true })).toThrow(/use_karras_sigmas true is not supported; allowed: false, null/);
    expect(() => parseSchedulerConfig({ _class_name: "DDIMScheduler", clip_sample: true })).toThrow(/clip_sample true is not supported/);
    expect(() => parseSchedulerConfig({ _class_name: "DDIMScheduler", warp_speed: 9 })).toThrow(/unknown option "warp_speed"; known: .*steps_offset/);
  });
});

describe("prompt templates", () => {
  it("lists its fields once each and fills them with drawn parameters (numbers at 4 significant digits)", () => {
    const template = "dashcam photo, a {hazard} at {timeOfDay}, {hazard} {{literal}} size {size}";
    expect(templateFields(template)).toEqual(["hazard", "timeOfDay", "size"]);
    expect(renderPrompt(template, { hazard: "deer", timeOfDay: "dusk", size: 0.30000000000000004 })).toBe("dashcam photo, a deer at dusk, deer {literal} size 0.3");
  });

  it("refuses a malformed template and a field without a parameter, naming it", () => {
    expect(() => templateFields("a {hazard")).toThrow(/position 2/);
    expect(() => templateFields("a {haz ard}")).toThrow(/does not open a \{field\}/);
    expect(() => templateFields("a hazard}")).toThrow(/closes no field/);
    expect(() => renderPrompt("a {hazard} in {season}", { hazard: "deer" })).toThrow(/\{season\}, which is not a parameter/);
  });
});

describe("loading an installed Optimum export", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "rareforge-optimum-package-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const refusal = async (load: Promise<unknown>) => {
    const error = (await load.then(() => null, (e: unknown) => e)) as ModelPackageError | null;
    expect(error?.name).toBe("ModelPackageError");
    return error!;
  };

  it("is an optimum package whose view lays the parameters out as a condition and keeps the export's settings", async () => {
    const model = await loadModelPackageAsync(await installExport("tiny-sd-inpaint", root, roadManifest("inpaint-view")));
    expect(model.kind).toBe("optimum");
    expect(model.optimum).toMatchObject({ inpainting: true, latentChannels: 4, vaeScalingFactor: 0.18215, scheduler: { sampler: "ddim", stepsOffset: 1 } });
    expect(model.manifest.condition.width).toBe(6 + 3 + 4);
    expect(model.manifest.condition.fields.map((f) => [f.name, f.offset, f.width])).toEqual([["hazard", 0, 6], ["timeOfDay", 6, 3], ["weather", 9, 4]]);
    expect(model.manifest.latent).toMatchObject({ shape: [4, 8, 8], scalingFactor: 0.18215 });
    expect(Object.keys(model.fileHashes)).not.toContain("rareforge.json");
    expect(model.fileHashes["unet/model.onnx"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("verifies the hashes rareforge.json lists: a changed file or an unlisted one is refused", async () => {
    const dir = await installExport("tiny-sd", root, roadManifest("hashed"));
    const { fileHashes } = await loadModelPackageAsync(dir);
    await writeFile(join(dir, "rareforge.json"), JSON.stringify({ ...roadManifest("hashed"), files: fileHashes }));
    await appendFile(join(dir, "vae_decoder", "config.json"), " ");
    expect(await refusal(loadModelPackageAsync(dir))).toMatchObject({ code: "hash-mismatch", message: expect.stringContaining("vae_decoder/config.json") });
    await writeFile(join(dir, "rareforge.json"), JSON.stringify({ ...roadManifest("hashed"), files: { ...fileHashes, "vae_decoder/config.json": undefined } }));
    expect(await refusal(loadModelPackageAsync(dir))).toMatchObject({ code: "undeclared-file" });
  });

  it("derives name, version and image size from the export when rareforge.json leaves them out", async () => {
    const { name: _name, version: _version, image: _image, ...minimal } = roadManifest("unused");
    const dir = await installExport("tiny-sd", root, minimal, "derived-sd");
    const model = await loadModelPackageAsync(dir);
    expect(model.manifest).toMatchObject({ name: "derived-sd", image: { width: 64, height: 64 } });
    expect(model.manifest.version).toMatch(/^sha-[0-9a-f]{12}$/);
    // the content is the version: another file, another version
    await appendFile(join(dir, "unet", "config.json"), " ");
    expect((await loadModelPackageAsync(dir)).manifest.version).not.toBe(model.manifest.version);
    const badName = await installExport("tiny-sd", root, minimal, "Derived_SD");
    expect(await refusal(loadModelPackageAsync(badName))).toMatchObject({ code: "invalid-manifest", message: expect.stringContaining('give "name"') });
  });

  it("refuses an export without rareforge.json, saying what to give", async () => {
    const dir = await installExport("tiny-sd", root, null, "bare");
    expect(await refusal(loadModelPackageAsync(dir))).toMatchObject({ code: "not-found", message: expect.stringContaining("prompt template") });
  });
});
