// Sampling quality: FAST takes the absent settings from the manifest's `fast`, DEFAULT (or nothing) from its
// `defaults`; what the caller gives wins either way; FAST on a model without fast settings is a typed refusal.
import { describe, expect, it } from "vitest";
import { resolveSamplingSettings } from "../../src/diffusion/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { modelManifestSchema } from "../../src/models/index.ts";
import { readFileSync } from "node:fs";

const schedule = { kind: "linear" as const, trainSteps: 1000, betaStart: 0.0001, betaEnd: 0.02 };
const denoiser = { file: "d.onnx", inputs: { sample: "s", timestep: "t", condition: "c" }, output: "o", timestepDtype: "float32" as const, prediction: "v" as const, schedule };
const withFast = { name: "m", denoiser, defaults: { sampler: "ddim", steps: 25, guidance: 3 }, fast: { sampler: "euler", steps: 10, guidance: 3 } };
const withoutFast = { name: "plain", denoiser, defaults: { sampler: "ddim", steps: 25, guidance: 3 } };

describe("sampling quality", () => {
  it("fills sampler, steps and guidance from the manifest's fast settings and records quality fast", () => {
    expect(resolveSamplingSettings({ quality: "fast" }, { manifest: withFast })).toMatchObject({ sampler: "euler", steps: 10, guidance: 3, quality: "fast" });
  });

  it("uses the defaults, quality default, when quality is default or absent", () => {
    expect(resolveSamplingSettings({ quality: "default" }, { manifest: withFast })).toMatchObject({ sampler: "ddim", steps: 25, quality: "default" });
    expect(resolveSamplingSettings({}, { manifest: withFast })).toMatchObject({ sampler: "ddim", steps: 25, quality: "default" });
  });

  it("lets settings the caller gives win over the fast ones", () => {
    expect(resolveSamplingSettings({ quality: "fast", steps: 12 }, { manifest: withFast })).toMatchObject({ sampler: "euler", steps: 12, quality: "fast" });
    expect(resolveSamplingSettings({ quality: "fast", sampler: "dpmpp-2m", guidance: 2 }, { manifest: withFast })).toMatchObject({ sampler: "dpmpp-2m", steps: 10, guidance: 2 });
  });

  it("refuses fast on a model without fast settings, naming the model and the field", () => {
    const refused = (() => {
      try {
        resolveSamplingSettings({ quality: "fast" }, { manifest: withoutFast });
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).issues).toEqual([{ path: "quality", message: expect.stringMatching(/model "plain" has no fast sampling settings/) }]);
  });

  it("refuses an unknown quality with the allowed ones", () => {
    expect(() => resolveSamplingSettings({ quality: "turbo" }, { manifest: withFast })).toThrow(/quality: unknown quality "turbo"; allowed: default, fast/);
  });

  it("the shipped diffusion models carry fast settings the manifest schema accepts and the sampler knows", () => {
    // the base models, their guidance-distilled students and the students' int8 builds (brain-mri-int8 has none:
    // fewer steps lost more than 2 points)
    const names = ["road-hazards", "brain-mri", "road-hazards-int8", "road-hazards-distilled", "brain-mri-distilled", "road-hazards-distilled-int8", "brain-mri-distilled-int8"];
    for (const name of names) {
      const manifest = modelManifestSchema.parse(JSON.parse(readFileSync(new URL(`../../models/${name}/model.json`, import.meta.url), "utf8")));
      expect(manifest.fast, name).toBeDefined();
      const settings = resolveSamplingSettings({ quality: "fast" }, { manifest });
      expect(settings.steps, name).toBeLessThan(manifest.defaults.steps!);
      expect(settings.guidance, name).toBe(manifest.defaults.guidance);
    }
  });
});

describe("a model with guidance distilled into its denoiser", () => {
  const distilled = { name: "m-distilled", denoiser: { ...denoiser, distilledGuidance: 3 }, defaults: { sampler: "ddim", steps: 25, guidance: 3 } };

  it("samples at its distilled scale when guidance is left out or given as that scale", () => {
    expect(resolveSamplingSettings({}, { manifest: distilled })).toMatchObject({ guidance: 3 });
    expect(resolveSamplingSettings({ guidance: 3, steps: 10 }, { manifest: distilled })).toMatchObject({ guidance: 3, steps: 10 });
  });

  it("refuses another guidance with a ValidationError on guidance naming the model and its scale", () => {
    expect(() => resolveSamplingSettings({ guidance: 1 }, { manifest: distilled })).toThrow(ValidationError);
    expect(() => resolveSamplingSettings({ guidance: 7.5 }, { manifest: distilled })).toThrow(
      /guidance: model "m-distilled" has guidance 3 distilled into its denoiser .*guidance must be 3 or left out, got 7.5/,
    );
  });

  it("its manifest may not recommend another guidance in defaults or fast", () => {
    const base = JSON.parse(readFileSync(new URL("../../models/road-hazards/model.json", import.meta.url), "utf8")) as Record<string, unknown> & { denoiser: object };
    const manifest = { ...base, denoiser: { ...base.denoiser, distilledGuidance: 3 } };
    expect(modelManifestSchema.safeParse({ ...manifest, defaults: { sampler: "ddim", steps: 25, guidance: 3 }, fast: undefined }).success).toBe(true);
    const wrongDefaults = modelManifestSchema.safeParse({ ...manifest, defaults: { sampler: "ddim", steps: 25, guidance: 2 }, fast: undefined });
    expect(wrongDefaults.error?.issues.map((i) => i.path.join("."))).toEqual(["defaults.guidance"]);
    const wrongFast = modelManifestSchema.safeParse({ ...manifest, defaults: { sampler: "ddim", steps: 25, guidance: 3 }, fast: { sampler: "ddim", steps: 8, guidance: 1 } });
    expect(wrongFast.error?.issues.map((i) => i.path.join("."))).toEqual(["fast.guidance"]);
  });
});
