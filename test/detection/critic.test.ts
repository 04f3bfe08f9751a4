// The realism gate: judging is pure (critic output vector + request -> valid/invalid with reasons); the
// ONNX part is checked on the shipped critics' golden fixtures when they are there.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { criticManifestSchema, decodeCriticOutput, findCriticPackage, judgeRealism, loadCritic } from "../../src/detection/index.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

// The road-critic layout of models/README.md: 18 slots, hazard/weather/timeOfDay logits, box scalars 0..1.
const roadLayout = criticManifestSchema.parse({
  schema: "rareforge.critic/1",
  name: "road-critic",
  version: "1.0.0",
  files: { "critic.onnx": "0".repeat(64) },
  file: "critic.onnx",
  model: "road-hazards",
  input: { name: "image", width: 64, height: 64, channels: 3, layout: "NCHW", valueRange: [-1, 1] },
  output: { name: "condition", width: 18, layout: "condition" },
  fields: [
    { name: "hazard", kind: "categorical", values: ["none", "pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"], offset: 0, width: 7 },
    { name: "weather", kind: "categorical", values: ["clear", "rain", "fog", "snow"], offset: 7, width: 4 },
    { name: "timeOfDay", kind: "categorical", values: ["day", "dusk", "night"], offset: 11, width: 3 },
    { name: "hazardCx", kind: "scalar", range: [0, 1], offset: 14, width: 1 },
    { name: "hazardCy", kind: "scalar", range: [0, 1], offset: 15, width: 1 },
    { name: "hazardW", kind: "scalar", range: [0, 1], offset: 16, width: 1 },
    { name: "hazardH", kind: "scalar", range: [0, 1], offset: 17, width: 1 },
  ],
  box: { kind: "box", cx: "hazardCx", cy: "hazardCy", w: "hazardW", h: "hazardH", class: "hazard", absentWhen: ["none"] },
});

/** A critic output vector that "sees" the given categorical indices and box. */
function criticSees(hazard: number, weather: number, time: number, box: [number, number, number, number]): Float32Array {
  const v = new Float32Array(18).fill(-4);
  v[hazard] = 4;
  v[7 + weather] = 4;
  v[11 + time] = 2; // a less certain reading than the other attributes
  v.set(box, 14);
  return v;
}
const request = { hazard: "animal", weather: "fog", timeOfDay: "night", hazardCx: 0.5, hazardCy: 0.6, hazardW: 0.2, hazardH: 0.2 };

describe("realism gate", () => {
  it("decodes logits by argmax (with softmax probability) and scalars onto their range", () => {
    const prediction = decodeCriticOutput(roadLayout, criticSees(3, 2, 2, [0.5, 0.6, 0.2, 0.2]));
    expect(prediction.values).toMatchObject({ hazard: "animal", weather: "fog", timeOfDay: "night" });
    expect(prediction.values.hazardCx).toBeCloseTo(0.5, 6);
    expect(prediction.probabilities.hazard).toBeCloseTo(Math.exp(4) / (Math.exp(4) + 6 * Math.exp(-4)), 6);
  });

  it("accepts a sample that shows what was requested", () => {
    const verdict = judgeRealism(roadLayout, decodeCriticOutput(roadLayout, criticSees(3, 2, 2, [0.52, 0.61, 0.19, 0.21])), request);
    expect(verdict.valid).toBe(true);
    expect(verdict.reasons).toEqual([]);
    expect(verdict.boxIoU).toBeGreaterThan(0.7);
  });

  it("refuses a wrong attribute or a misplaced object, naming each reason", () => {
    const verdict = judgeRealism(roadLayout, decodeCriticOutput(roadLayout, criticSees(3, 0, 2, [0.2, 0.6, 0.2, 0.2])), request);
    expect(verdict.valid).toBe(false);
    expect(verdict.reasons.map((r) => r.field)).toEqual(["weather", "box"]);
    expect(verdict.reasons[0]!.message).toContain("requested fog, the critic sees clear");
    expect(verdict.boxIoU).toBe(0);
  });

  it("thresholds are configurable: a lenient box IoU, a required probability, ignored fields", () => {
    const offset = decodeCriticOutput(roadLayout, criticSees(3, 2, 2, [0.56, 0.6, 0.2, 0.2])); // IoU 0.14/0.26 ≈ 0.54
    expect(judgeRealism(roadLayout, offset, request, { minBoxIoU: 0.7 }).valid).toBe(false);
    expect(judgeRealism(roadLayout, offset, request, { minBoxIoU: 0.5 }).valid).toBe(true);
    // timeOfDay: logit 2 vs two at -4, p ≈ 0.995; hazard and weather (logit 4) have p ≥ 0.998
    expect(judgeRealism(roadLayout, offset, request, { minProbability: 0.997 }).reasons.map((r) => r.field)).toEqual(["timeOfDay"]);
    const wrongWeather = decodeCriticOutput(roadLayout, criticSees(3, 1, 2, [0.5, 0.6, 0.2, 0.2]));
    expect(judgeRealism(roadLayout, wrongWeather, request, { ignore: ["weather"] }).valid).toBe(true);
  });

  it("for hazard none there is no box to check, but an object the critic sees makes it invalid", () => {
    const empty = { ...request, hazard: "none" };
    expect(judgeRealism(roadLayout, decodeCriticOutput(roadLayout, criticSees(0, 2, 2, [0.1, 0.1, 0.9, 0.9])), empty)).toMatchObject({ valid: true, boxIoU: null });
    expect(judgeRealism(roadLayout, decodeCriticOutput(roadLayout, criticSees(1, 2, 2, [0.5, 0.6, 0.2, 0.2])), empty).reasons.map((r) => r.field)).toEqual(["hazard"]);
  });
});

for (const name of ["road-critic", "brain-critic"]) {
  const dir = `${root}models/${name}`;
  const fixture = `${root}test/fixtures/${name}`;
  const available = existsSync(`${dir}/critic.json`) && existsSync(`${fixture}/golden.json`);
  if (!available) console.warn(`skipping ${name}: models/${name}/critic.json or its golden fixture is not there yet`);
  describe.skipIf(!available)(`shipped ${name}`, () => {
    it("reads the golden input exactly as the golden output says, batched", async () => {
      const golden = JSON.parse(readFileSync(`${fixture}/golden.json`, "utf8")) as { params: Record<string, string | number>; input: { file: string }; output: { file: string } };
      const f32 = (file: string) => {
        const b = readFileSync(`${fixture}/${file}`);
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      };
      const critic = await loadCritic(dir, { intraOpThreads: 1 });
      try {
        const input = f32(golden.input.file);
        const expected = decodeCriticOutput(critic.manifest, f32(golden.output.file));
        const [first, second] = await critic.predict([input, input]);
        expect(first!.values).toEqual(second!.values);
        for (const [field, value] of Object.entries(expected.values)) {
          if (typeof value === "number") expect(first!.values[field] as number).toBeCloseTo(value, 3);
          else expect(first!.values[field]).toBe(value);
        }
      } finally {
        await critic.dispose();
      }
    });
  });
}

describe("the critic a model is judged by", () => {
  const modelsDir = `${root}models`;
  it("is the critic naming the model; a derived (int8) package is judged by its base's critic", () => {
    expect(findCriticPackage(modelsDir, "road-hazards")).toBe(`${modelsDir}/road-critic`);
    expect(findCriticPackage(modelsDir, "brain-mri")).toBe(`${modelsDir}/brain-critic`);
    const derived = JSON.parse(readFileSync(`${modelsDir}/road-hazards-int8/model.json`, "utf8")) as { derivedFrom: { name: string } };
    expect(derived.derivedFrom.name).toBe("road-hazards");
    expect(findCriticPackage(modelsDir, "road-hazards-int8")).toBe(`${modelsDir}/road-critic`);
    expect(findCriticPackage(modelsDir, "brain-mri-int8")).toBe(`${modelsDir}/brain-critic`);
    // neither a critic nor a base: no gate
    expect(findCriticPackage(modelsDir, "road-detector")).toBeNull();
    expect(findCriticPackage(modelsDir, "no-such-model")).toBeNull();
  });

  it("follows a chain of bases (int8 of a distilled package) to the first critic, and stops on a cycle", () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-critic-chain-"));
    try {
      const write = (name: string, file: string, body: unknown) => {
        mkdirSync(join(dir, name), { recursive: true });
        writeFileSync(join(dir, name, file), JSON.stringify(body));
      };
      write("base", "model.json", { name: "base" });
      write("base-distilled", "model.json", { name: "base-distilled", derivedFrom: { name: "base" } });
      write("base-distilled-int8", "model.json", { name: "base-distilled-int8", derivedFrom: { name: "base-distilled" } });
      write("loop-a", "model.json", { derivedFrom: { name: "loop-b" } });
      write("loop-b", "model.json", { derivedFrom: { name: "loop-a" } });
      expect(findCriticPackage(dir, "base-distilled-int8")).toBeNull(); // no critic anywhere yet
      write("base-critic", "critic.json", { model: "base" });
      expect(findCriticPackage(dir, "base-distilled-int8")).toBe(join(dir, "base-critic"));
      write("distilled-critic", "critic.json", { model: "base-distilled" });
      expect(findCriticPackage(dir, "base-distilled-int8")).toBe(join(dir, "distilled-critic")); // the nearest wins
      expect(findCriticPackage(dir, "loop-a")).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
