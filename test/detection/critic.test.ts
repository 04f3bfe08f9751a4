// The realism gate: judging is pure (critic output vector + request -> valid/invalid with reasons); the
// ONNX part is checked on the shipped critics' golden fixtures when they are there.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  combineLook,
  criticManifestSchema,
  decodeCriticOutput,
  decodeLookOutput,
  findCriticPackage,
  judgeRealism,
  loadCritic,
  lookWindow,
  lookInput,
  lookPlace,
  lookWeight,
  mirrorLookInput,
  seenValues,
} from "../../src/detection/index.ts";

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

describe("calibrated realism gate (critic.json gate)", () => {
  const calibrated = criticManifestSchema.parse({
    ...roadLayout,
    gate: {
      rule: "requested-probability",
      fields: { hazard: { animal: 0.05, none: 0.2 }, weather: { fog: 0.3 } },
      boxMinIoU: { animal: 0.1 },
    },
  });
  /** A critic output whose hazard logits give animal (index 3) the logit `animal` and pedestrian (1) logit 4. */
  const torn = (animal: number, box: [number, number, number, number] = [0.5, 0.6, 0.2, 0.2]) => {
    const v = criticSees(1, 2, 2, box);
    v[3] = animal;
    return decodeCriticOutput(calibrated, v);
  };

  it("keeps every value's probability, so the gate can read the requested one", () => {
    const prediction = torn(2);
    const total = Math.exp(4) + Math.exp(2) + 5 * Math.exp(-4);
    expect(prediction.values.hazard).toBe("pedestrian");
    expect(prediction.distributions.hazard!.animal).toBeCloseTo(Math.exp(2) / total, 6);
    expect(Object.values(prediction.distributions.hazard!).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 6);
  });

  it("refuses a class only when the requested value's probability is under its floor, not when another value wins", () => {
    // p(animal) ≈ 0.12: pedestrian wins the argmax, but animal stays above its floor 0.05
    expect(judgeRealism(calibrated, torn(2), request)).toMatchObject({ valid: true, reasons: [] });
    // p(animal) ≈ 0.0003: under the floor; the reason names the requested value, its probability and the floor
    const verdict = judgeRealism(calibrated, torn(-4), request);
    expect(verdict.valid).toBe(false);
    expect(verdict.reasons.map((r) => r.field)).toEqual(["hazard"]);
    expect(verdict.reasons[0]!.message).toMatch(/requested animal, the critic sees pedestrian .* gives animal p 0\.000, below its calibrated floor 0\.05/);
  });

  it("uses the requested class's box floor, and the caller's uniform thresholds replace the calibrated ones", () => {
    const offset = torn(4, [0.62, 0.6, 0.2, 0.2]); // IoU with the request 0.08/0.32 = 0.25: above animal's floor 0.1, under 0.3
    expect(judgeRealism(calibrated, offset, request).valid).toBe(true);
    expect(judgeRealism(calibrated, offset, request, { minBoxIoU: 0.3 }).reasons.map((r) => r.field)).toEqual(["box"]);
    expect(judgeRealism(calibrated, torn(4, [0.75, 0.6, 0.2, 0.2]), request).reasons[0]!.message).toContain("below its calibrated floor 0.1");
    // the critic's most likely reading is "no object" but animal keeps p above its floor: with a calibrated box floor
    // its box is read as the animal's (valid); with the uniform rule there is no box to compare (IoU 0, refused)
    const unsure = criticSees(0, 2, 2, [0.5, 0.6, 0.2, 0.2]);
    unsure[3] = 2;
    const noneWins = decodeCriticOutput(calibrated, unsure);
    expect(noneWins.values.hazard).toBe("none");
    const calibratedVerdict = judgeRealism(calibrated, noneWins, request);
    expect(calibratedVerdict.valid).toBe(true);
    expect(calibratedVerdict.boxIoU).toBeCloseTo(1, 5);
    expect(judgeRealism(calibrated, noneWins, request, { minBoxIoU: 0.3 })).toMatchObject({ valid: false, boxIoU: 0 });
    // ... and when it sees no object, a box elsewhere is no evidence: the class floor alone judges the request
    const unseenElsewhere = criticSees(0, 2, 2, [0.1, 0.9, 0.05, 0.05]);
    unseenElsewhere[3] = 2;
    expect(judgeRealism(calibrated, decodeCriticOutput(calibrated, unseenElsewhere), request)).toMatchObject({ valid: true, boxIoU: 0 });
    // an object it does see (even as another class) must be where it was asked
    expect(judgeRealism(calibrated, torn(2, [0.1, 0.9, 0.05, 0.05]), request).reasons.map((r) => r.field)).toEqual(["box"]);
    // minProbability set: the argmax rule for every field (pedestrian wins over animal -> refused)
    expect(judgeRealism(calibrated, torn(2), request, { minProbability: 0 }).reasons.map((r) => r.field)).toEqual(["hazard"]);
  });

  describe("with a look at the requested place (critic.json look)", () => {
    const values = ["none", "pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"];
    const look = { file: "look.onnx", field: "hazard", window: 16, input: "window", output: "logits", values, nothing: "none" };
    const looking = criticManifestSchema.parse({ ...calibrated, files: { ...calibrated.files, "look.onnx": "1".repeat(64) }, look });
    /** The look's reading: `seen` with logit 4, animal with logit `animal`, the rest -4. */
    const sees = (seen: string, animal: number) => decodeLookOutput(look, values.map((v) => (v === seen ? 4 : v === "animal" ? animal : -4)));

    it("judges a requested object's class by what the look names at its place, not by the whole frame", () => {
      // the whole frame names a pedestrian and gives animal p 0.0003 (under the floor 0.05) ...
      const wholeFrameRefuses = torn(-4);
      expect(judgeRealism(looking, wholeFrameRefuses, request).valid).toBe(false);
      // ... but at the requested place the look names the animal: valid
      expect(judgeRealism(looking, { ...wholeFrameRefuses, look: sees("animal", 4) }, request)).toMatchObject({ valid: true, reasons: [] });
      // the whole frame is sure of the animal, the look names nothing there: refused, and the reason says where
      const verdict = judgeRealism(looking, { ...torn(8), look: sees("none", -4) }, request);
      expect(verdict.reasons.map((r) => r.field)).toEqual(["hazard"]);
      expect(verdict.reasons[0]!.message).toMatch(/requested animal, at the requested place the critic sees none \(p 1\.00\) and gives animal p 0\.000, below its calibrated floor 0\.05/);
      expect(verdict.reasons[0]!.seen).toBe("none");
      // what the bench reports as read: the class at the requested place, the rest from the whole frame
      expect(seenValues(looking, { ...torn(8), look: sees("none", -4) }, request)).toMatchObject({ hazard: "none", weather: "fog" });
      expect(seenValues(looking, torn(8), request).hazard).toBe("animal");
      expect(seenValues(looking, { ...torn(8), look: sees("none", -4) }, { ...request, hazard: "none" }).hazard).toBe("animal");
      // the uniform argmax rule reads the look too
      expect(judgeRealism(looking, { ...torn(-4), look: sees("animal", 4) }, request, { minProbability: 0 }).valid).toBe(true);
      expect(judgeRealism(looking, { ...torn(8), look: sees("cone", -4) }, request, { minProbability: 0 }).reasons[0]!.seen).toBe("cone");
    });

    it("mixes the whole frame's reading in by the look's weight (p ~ critic^(1 - weight) * look^weight)", () => {
      const critic = { none: 0.1, pedestrian: 0.6, cyclist: 0.3 };
      const lookSees = { none: 0.2, pedestrian: 0.2, cyclist: 0.6 };
      expect(combineLook(critic, lookSees, 1)).toEqual(lookSees);
      const alone = combineLook(critic, lookSees, 0);
      for (const [v, p] of Object.entries(critic)) expect(alone[v]).toBeCloseTo(p, 9);
      const half = combineLook(critic, lookSees, 0.5);
      const z = Math.sqrt(0.02) + Math.sqrt(0.12) + Math.sqrt(0.18);
      expect(half.cyclist).toBeCloseTo(Math.sqrt(0.18) / z, 9);
      expect(Object.values(half).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      // the whole frame is sure of the animal (a large one, whose middle is all the window holds), the look names
      // nothing there: the look alone refuses it, at weight 0.5 the combined reading keeps animal p ≈ 0.78
      const large = { ...torn(8), look: sees("none", -4) };
      expect(judgeRealism(looking, large, request).valid).toBe(false);
      const halfWeight = criticManifestSchema.parse({ ...looking, look: { ...look, weight: 0.5 } });
      expect(judgeRealism(halfWeight, large, request)).toMatchObject({ valid: true, reasons: [] });
      expect(criticManifestSchema.safeParse({ ...looking, look: { ...look, weight: 1.5 } }).success).toBe(false);
    });

    it("mirrors a look input left to right, channel by channel", () => {
      // 2 channels of 3 x 3: value = channel * 100 + row * 10 + column
      const input = Float32Array.from({ length: 18 }, (_, i) => Math.floor(i / 9) * 100 + Math.floor((i % 9) / 3) * 10 + (i % 3));
      const mirrored = mirrorLookInput(input, 3);
      expect(Array.from(mirrored.subarray(0, 3))).toEqual([2, 1, 0]);
      expect(Array.from(mirrored.subarray(12, 15))).toEqual([112, 111, 110]);
      expect(Array.from(mirrorLookInput(mirrored, 3))).toEqual(Array.from(input));
      expect(criticManifestSchema.parse({ ...looking, look }).look!.mirror).toBe(false);
    });

    it("weighs the look by the requested box's longer side where the critic declares bands (look.bySize)", () => {
      const bySize = [{ below: 0.125, weight: 0.9 }, { below: 0.25, weight: 0.7 }];
      const banded = criticManifestSchema.parse({ ...looking, look: { ...look, weight: 0.5, bySize } });
      const box = (width: number, height: number) => ({ x: 0.4, y: 0.4, width, height });
      expect(lookWeight(banded.look!, box(0.05, 0.1))).toBe(0.9);
      expect(lookWeight(banded.look!, box(0.124, 0.02))).toBe(0.9);
      // the longer side decides, whichever it is; a band's edge belongs to the next band
      expect(lookWeight(banded.look!, box(0.02, 0.125))).toBe(0.7);
      expect(lookWeight(banded.look!, box(0.2, 0.1))).toBe(0.7);
      expect(lookWeight(banded.look!, box(0.25, 0.1))).toBe(0.5);
      expect(lookWeight(banded.look!, null)).toBe(0.5);
      expect(lookWeight(looking.look!, box(0.05, 0.05))).toBe(1);
      // the whole frame is sure of the animal, the look names nothing at its place: a small box (0.1) is the look's
      // (refused), a large one (0.3) mostly the whole frame's (valid, animal p ≈ 0.78 at weight 0.5)
      const large = { ...torn(8), look: sees("none", -4) };
      expect(judgeRealism(banded, large, { ...request, hazardW: 0.1, hazardH: 0.1 }).valid).toBe(false);
      expect(judgeRealism(banded, large, { ...request, hazardW: 0.3, hazardH: 0.3 })).toMatchObject({ valid: true, reasons: [] });
      expect(seenValues(banded, large, { ...request, hazardW: 0.1, hazardH: 0.1 }).hazard).toBe("none");
      expect(seenValues(banded, large, { ...request, hazardW: 0.3, hazardH: 0.3 }).hazard).toBe("animal");
      const bad = (sizes: unknown) => criticManifestSchema.safeParse({ ...looking, look: { ...look, bySize: sizes } }).error?.issues.map((i) => i.message) ?? [];
      expect(bad(bySize)).toEqual([]);
      expect(bad([...bySize].reverse())).toEqual(["bySize bands must be in increasing order of below"]);
      expect(bad([{ below: 0, weight: 0.5 }])).toHaveLength(1);
      expect(bad([{ below: 0.2, weight: 1.2 }])).toHaveLength(1);
      expect(bad([])).toHaveLength(1);
    });

    it("leaves a request for no object to the whole frame, and other fields and the box to the critic", () => {
      const empty = { ...request, hazard: "none" };
      const wholeSeesNone = decodeCriticOutput(looking, criticSees(0, 2, 2, [0.5, 0.6, 0.2, 0.2]));
      expect(judgeRealism(looking, { ...wholeSeesNone, look: sees("animal", 4) }, empty).valid).toBe(true);
      // weather is still the whole frame's (fog requested, the critic sees fog), the box still the critic's
      const elsewhere = torn(8, [0.1, 0.9, 0.05, 0.05]);
      expect(judgeRealism(looking, { ...elsewhere, look: sees("animal", 4) }, request).reasons.map((r) => r.field)).toEqual(["box"]);
      expect(judgeRealism(looking, { ...torn(8), look: sees("animal", 4) }, { ...request, weather: "clear" }).reasons.map((r) => r.field)).toEqual(["weather"]);
    });

    it("with look.confirm, reads a request for no object at the box the critic claims (lookPlace)", () => {
      const confirming = criticManifestSchema.parse({ ...looking, look: { ...look, confirm: true } });
      const empty = { ...request, hazard: "none" };
      // the critic names a pedestrian with its box at (0.3, 0.7), 0.1 x 0.1; the request asks for no object
      const claims = torn(-4, [0.3, 0.7, 0.1, 0.1]);
      const place = lookPlace(confirming, claims.values, empty)!;
      expect(place.at).toBe("critic");
      // (the critic's output is float32)
      [place.box.x, place.box.y, place.box.width, place.box.height, ...place.centre].forEach((v, i) => expect(v).toBeCloseTo([0.25, 0.65, 0.1, 0.1, 0.3, 0.7][i] as number, 6));
      expect(lookPlace(looking, claims.values, empty)).toBeNull();
      // a requested object is read at its own place either way; a critic that names no object has no box to read
      expect(lookPlace(confirming, claims.values, request)).toMatchObject({ centre: [0.5, 0.6], at: "requested" });
      expect(lookPlace(confirming, decodeCriticOutput(confirming, criticSees(0, 2, 2, [0.3, 0.7, 0.1, 0.1])).values, empty)).toBeNull();
      // the look names nothing at the critic's box: confirmed empty (valid); without confirm the whole frame refuses
      expect(judgeRealism(confirming, { ...claims, look: sees("none", -4) }, empty)).toMatchObject({ valid: true, reasons: [] });
      expect(seenValues(confirming, { ...claims, look: sees("none", -4) }, empty).hazard).toBe("none");
      expect(judgeRealism(looking, { ...claims, look: sees("none", -4) }, empty).reasons.map((r) => r.field)).toEqual(["hazard"]);
      // the look sees the pedestrian there too: refused, and the reason says where it looked
      const seen = judgeRealism(confirming, { ...claims, look: sees("pedestrian", -4) }, empty);
      expect(seen.reasons.map((r) => r.field)).toEqual(["hazard"]);
      expect(seen.reasons[0]!.message).toMatch(/requested none, at the object the critic claims, it and its look see pedestrian/);
      // no look read (a prediction without one): the whole frame's reading stands
      expect(judgeRealism(confirming, claims, empty).valid).toBe(false);
      expect(criticManifestSchema.parse({ ...looking, look }).look!.confirm).toBe(false);
    });

    it("moves the look's window by a shift, its context with it, and refuses repeated or too large shifts", () => {
      // one channel of 8 x 8: value = row * 10 + column; a window of 4 centred at (0.5, 0.5) starts at pixel 2
      const image = Float32Array.from({ length: 64 }, (_, i) => Math.floor(i / 8) * 10 + (i % 8));
      const shape = { channels: 1, height: 8, width: 8 };
      expect(Array.from(lookWindow(image, shape, 0.5, 0.5, 4).subarray(0, 4))).toEqual([22, 23, 24, 25]);
      expect(Array.from(lookWindow(image, shape, 0.5, 0.5, 4, [1, -1]).subarray(0, 4))).toEqual([13, 14, 15, 16]);
      // moved past the edge: the edge repeats
      expect(Array.from(lookWindow(image, shape, 0.5, 0.5, 4, [3, 0]).subarray(0, 4))).toEqual([25, 26, 27, 27]);
      // the context window moves with the window: its pooled first pixel is the mean of the 2 x 2 block at (1, 0)
      const moved = lookInput(image, shape, 0.5, 0.5, { window: 4, context: 8 }, [1, 0]);
      expect(moved[16]).toBeCloseTo((1 + 2 + 11 + 12) / 4, 6);
      expect(lookInput(image, shape, 0.5, 0.5, { window: 4, context: 8 })[16]).toBeCloseTo((0 + 1 + 10 + 11) / 4, 6);
      const parsed = criticManifestSchema.parse({ ...looking, look });
      expect(parsed.look!.shifts).toEqual([[0, 0]]);
      const bad = (shifts: unknown) => criticManifestSchema.safeParse({ ...looking, look: { ...look, shifts } }).error?.issues.map((i) => i.message) ?? [];
      expect(bad([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]])).toEqual([]);
      expect(bad([[0, 0], [0, 0]])).toEqual(["shifts must not repeat"]);
      expect(bad([[0, 5]])[0]).toMatch(/^shift \[0, 5\] moves the window by more than a quarter of its side \(4 px\)/);
      expect(bad([[0.5, 0]])).toHaveLength(1);
      expect(bad([])).toHaveLength(1);
    });

    it("refuses a look that names another field, other values, an unlisted file, a present value as nothing or a context that is no wider multiple of its window", () => {
      const bad = (patch: Record<string, unknown>, files = looking.files) =>
        criticManifestSchema.safeParse({ ...looking, files, look: { ...look, ...patch } }).error?.issues.map((i) => i.message) ?? [];
      expect(bad({})).toEqual([]);
      expect(bad({}, calibrated.files)).toEqual(['"look.onnx" is not listed in files']);
      expect(bad({ field: "weather" })[0]).toBe('"weather" is not the box\'s class field');
      expect(bad({ values: [...values.slice(0, 6), "deer"] })[0]).toContain("are not hazard's");
      expect(bad({ nothing: "cone" })).toEqual(['"cone" is not a value that means no object']);
      expect(bad({ context: 32 })).toEqual([]);
      for (const context of [16, 8, 24, 48 + 1]) expect(bad({ context })[0]).toMatch(new RegExp(`^context ${context} must be a multiple of the window \\(16\\)`));
    });
  });

  it("a value without a floor keeps the argmax rule", () => {
    const pedestrianWanted = { ...request, hazard: "pedestrian", weather: "clear" };
    // weather: the critic sees fog (index 2) for a clear request; clear has no floor -> argmax rule refuses it
    expect(judgeRealism(calibrated, torn(2), pedestrianWanted).reasons.map((r) => r.field)).toEqual(["weather"]);
    // pedestrian has no box floor: the default 0.3 applies (IoU 0.25 here)
    expect(judgeRealism(calibrated, torn(-4, [0.62, 0.6, 0.2, 0.2]), { ...pedestrianWanted, weather: "fog" }).reasons.map((r) => r.field)).toEqual(["box"]);
  });

  it("a scalar's tolerance may be one per requested class; a class without one keeps the default 0.25", () => {
    // the road layout with one more scalar outside the box, "glare" on 0..2 (slot 18)
    const withGlare = criticManifestSchema.parse({
      ...roadLayout,
      output: { ...roadLayout.output, width: 19 },
      fields: [...roadLayout.fields, { name: "glare", kind: "scalar", range: [0, 2], offset: 18, width: 1 }],
      gate: { rule: "requested-probability", fields: {}, scalarTolerance: { glare: { animal: 0.1, pedestrian: 0.6 } } },
    });
    const sees = (hazard: number, glare: number) => {
      const v = new Float32Array(19);
      v.set(criticSees(hazard, 2, 2, [0.5, 0.6, 0.2, 0.2]));
      v[18] = glare; // normalised 0..1: reads glare 2 * value
      return decodeCriticOutput(withGlare, v);
    };
    // requested glare 1.0, read 1.4: off by 0.4 / 2 = 20 % of the range
    const animal = { ...request, glare: 1.0 };
    const refused = judgeRealism(withGlare, sees(3, 0.7), animal);
    expect(refused.reasons.map((r) => r.field)).toEqual(["glare"]);
    expect(refused.reasons[0]!.message).toContain("off by 20 % of the range");
    const pedestrian = { ...animal, hazard: "pedestrian" };
    expect(judgeRealism(withGlare, sees(1, 0.7), pedestrian).valid).toBe(true);
    // requested 1.8, read 0.3: off by 75 %, over pedestrian's 0.6
    expect(judgeRealism(withGlare, sees(1, 0.15), { ...pedestrian, glare: 1.8 }).reasons.map((r) => r.field)).toEqual(["glare"]);
    // cyclist has no tolerance of its own: the default 0.25 (20 % passes, 30 % does not)
    const cyclist = { ...animal, hazard: "cyclist" };
    expect(judgeRealism(withGlare, sees(2, 0.7), cyclist).valid).toBe(true);
    expect(judgeRealism(withGlare, sees(2, 0.8), cyclist).reasons.map((r) => r.field)).toEqual(["glare"]);
    // a caller's uniform tolerance replaces the calibrated ones
    expect(judgeRealism(withGlare, sees(3, 0.7), animal, { scalarTolerance: 0.3 }).valid).toBe(true);
    // per-class tolerances must name classes that have an object
    const bad = criticManifestSchema.safeParse({ ...withGlare, gate: { ...withGlare.gate, scalarTolerance: { glare: { none: 0.1, deer: 0.2 } } } });
    expect(bad.error?.issues.map((i) => i.message)).toEqual(['"none" is not a class with an object', '"deer" is not a class with an object']);
  });

  it("refuses gates that name unknown fields, values or classes", () => {
    const bad = (gate: unknown) => criticManifestSchema.safeParse({ ...roadLayout, gate }).error?.issues.map((i) => i.message) ?? [];
    expect(bad({ rule: "requested-probability", fields: { hazardCx: { a: 0.1 } } })).toEqual(['"hazardCx" is not a categorical field of the critic']);
    expect(bad({ rule: "requested-probability", fields: { hazard: { deer: 0.1 } } })[0]).toContain('"deer" is not a value of hazard');
    expect(bad({ rule: "requested-probability", fields: {}, boxMinIoU: { none: 0.2 } })).toEqual(['"none" is not a class with a box']);
    expect(bad({ rule: "requested-probability", fields: {}, scalarTolerance: { weather: 0.2 } })).toEqual(['"weather" is not a scalar field of the critic']);
    expect(bad({ rule: "requested-probability", fields: { hazard: { animal: 1.5 } } }).length).toBe(1);
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

    const hasLook = available && "look" in (JSON.parse(readFileSync(`${dir}/critic.json`, "utf8")) as object);
    it.skipIf(!hasLook)("cuts the look's golden window from the golden frame and reads it as training/look.py did", async () => {
      expect(existsSync(`${fixture}/look/golden.json`), `${name} has a look but no fixture: run training/look.py --apply`).toBe(true);
      const golden = JSON.parse(readFileSync(`${fixture}/look/golden.json`, "utf8")) as {
        params: Record<string, string | number>;
        shifts?: [number, number][];
        frame: { file: string; shape: number[] };
        input: { file: string };
        output: { file: string };
        mirroredOutput?: { file: string };
      };
      const f32 = (file: string) => {
        const b = readFileSync(`${fixture}/look/${file}`);
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      };
      const critic = await loadCritic(dir, { intraOpThreads: 1 });
      try {
        const look = critic.manifest.look!;
        const box = critic.manifest.box!;
        const frame = f32(golden.frame.file);
        const [, channels, height, width] = golden.frame.shape as [number, number, number, number];
        // the fixture holds the look's input at the requested place moved by each of the shipped shifts
        const shifts = golden.shifts ?? [[0, 0]];
        expect(shifts).toEqual(look.shifts);
        const input = f32(golden.input.file);
        const plane = input.length / shifts.length;
        shifts.forEach((shift, k) => {
          const cut = lookInput(frame, { channels, height, width }, Number(golden.params[box.cx]), Number(golden.params[box.cy]), look, shift);
          expect(cut.length).toBe(plane);
          cut.forEach((v, i) => expect(v).toBeCloseTo(input[k * plane + i] as number, 5));
        });
        // the gate's reading: the mean of the look's reading of every shifted window and, with look.mirror, of each
        // mirrored (the fixture's mirroredOutput, what training/look.py's look gave for its inputs flipped left to right)
        const n = look.values.length;
        const readingsOf = (logits: Float32Array) => shifts.map((_, k) => decodeLookOutput(look, logits.subarray(k * n, (k + 1) * n)));
        expect(golden.mirroredOutput !== undefined, `${name}'s look is read mirrored but its fixture has no mirroredOutput`).toBe(look.mirror);
        const readings = [...readingsOf(f32(golden.output.file)), ...(look.mirror ? readingsOf(f32(golden.mirroredOutput!.file)) : [])];
        const expected = Object.fromEntries(look.values.map((v) => [v, readings.reduce((sum, r) => sum + (r[v] as number), 0) / readings.length]));
        // the frame with its request, twice in a batch beside a request for no object
        const none = { ...golden.params, [box.class]: look.nothing };
        const [first, empty, second] = await critic.predict([frame, frame, frame], [golden.params, none, golden.params]);
        for (const read of [first!, second!]) for (const [value, p] of Object.entries(expected)) expect(read.look![value]).toBeCloseTo(p, 4);
        // the request for no object: with look.confirm and a critic that names an object in the frame, the look is
        // read at the critic's box (as if that object had been requested there); else not at all
        const claimed = lookPlace(critic.manifest, empty!.values, none);
        expect(claimed !== null).toBe(look.confirm && empty!.values[box.class] !== look.nothing);
        if (claimed) {
          const [there] = await critic.predict([frame], [empty!.values]);
          for (const [value, p] of Object.entries(there!.look!)) expect(empty!.look![value]).toBeCloseTo(p, 6);
        } else expect(empty!.look).toBeUndefined();
        // no requests, no look
        expect((await critic.predict([frame]))[0]!.look).toBeUndefined();
      } finally {
        await critic.dispose();
      }
    });

    it("carries a calibrated gate that is its calibration report's, measured on these very files", () => {
      const manifest = criticManifestSchema.parse(JSON.parse(readFileSync(`${dir}/critic.json`, "utf8")));
      expect(manifest.gate, `${name} ships without a calibrated gate: run training/gate_calibration.py ${name} --apply`).toBeDefined();
      const calibration = manifest.gate!.calibration as { report: string; heldOutRefused: number; heldOutWorstCell: number };
      const report = JSON.parse(readFileSync(`${root}${calibration.report}`, "utf8")) as {
        files: Record<string, string>;
        gate: { fields: unknown; boxMinIoU: unknown; scalarTolerance: unknown };
        heldOut: { exact: { refused: number; byCell: Record<string, number> } };
      };
      expect(report.files).toEqual(manifest.files);
      expect({ fields: manifest.gate!.fields, boxMinIoU: manifest.gate!.boxMinIoU, scalarTolerance: manifest.gate!.scalarTolerance }).toEqual({
        fields: report.gate.fields,
        boxMinIoU: report.gate.boxMinIoU,
        scalarTolerance: report.gate.scalarTolerance,
      });
      expect(calibration.heldOutRefused).toBe(report.heldOut.exact.refused);
      expect(calibration.heldOutWorstCell).toBe(Math.max(...Object.values(report.heldOut.exact.byCell)));
      // every requested class has a floor, so no class silently falls back to the argmax rule
      const classField = manifest.box!.class;
      const classes = (manifest.fields.find((f) => f.name === classField) as { values: string[] }).values;
      expect(Object.keys(manifest.gate!.fields[classField] ?? {}).sort()).toEqual([...classes].sort());
    });

    it("refuses the calibration's held-out cases exactly as the calibration script did", () => {
      // training/gate_calibration.py chooses the floors with its own copy of the rule (refused_by); the report
      // keeps raw critic vectors of held-out renders, right and wrong, with the fields that copy refused
      const manifest = criticManifestSchema.parse(JSON.parse(readFileSync(`${dir}/critic.json`, "utf8")));
      const report = JSON.parse(readFileSync(`${root}${(manifest.gate!.calibration as { report: string }).report}`, "utf8")) as {
        mirrorCases?: { request: Record<string, string | number>; vector: number[]; look?: number[]; refusedBy: string[] }[];
      };
      const cases = report.mirrorCases ?? [];
      expect(cases.length, `rerun training/gate_calibration.py ${name} --apply: its report has no mirror cases`).toBeGreaterThanOrEqual(100);
      // both verdicts are exercised
      expect(cases.filter((c) => c.refusedBy.length > 0).length).toBeGreaterThanOrEqual(20);
      expect(cases.filter((c) => c.refusedBy.length === 0).length).toBeGreaterThanOrEqual(20);
      // a critic with a look: the cases of requested objects carry the look's logits at the requested place
      if (manifest.look) expect(cases.filter((c) => c.look).length).toBeGreaterThanOrEqual(50);
      const read = (c: (typeof cases)[number]) => ({ ...decodeCriticOutput(manifest, c.vector), ...(c.look ? { look: decodeLookOutput(manifest.look!, c.look) } : {}) });
      const verdicts = cases.map((c) => judgeRealism(manifest, read(c), c.request).reasons.map((r) => r.field).sort());
      expect(verdicts).toEqual(cases.map((c) => c.refusedBy));
    });
  });
}

describe("the look's window", () => {
  // a 2-channel 4x6 image whose value encodes channel, row and column: c * 100 + y * 10 + x
  const shape = { channels: 2, height: 4, width: 6 };
  const image = Float32Array.from({ length: 48 }, (_, i) => Math.floor(i / 24) * 100 + Math.floor((i % 24) / 6) * 10 + (i % 6));
  it("is centred on the request (top-left floor(c * side - size / 2 + 0.5)) and repeats the edge outside the image", () => {
    // cx 0.5 -> x0 floor(3 - 1 + 0.5) = 2; cy 0.5 -> y0 floor(2 - 1 + 0.5) = 1
    expect(Array.from(lookWindow(image, shape, 0.5, 0.5, 2))).toEqual([12, 13, 22, 23, 112, 113, 122, 123]);
    // a half-pixel boundary rounds up: cx 0.25 -> floor(1.5 - 1 + 0.5) = 1
    expect(Array.from(lookWindow(image, shape, 0.25, 0.5, 2)).slice(0, 2)).toEqual([11, 12]);
    // the top-left corner: rows and columns before 0 repeat row and column 0
    expect(Array.from(lookWindow(image, shape, 0, 0, 4)).slice(0, 8)).toEqual([0, 0, 0, 1, 0, 0, 0, 1]);
    // past the right and bottom edges: the last row and column
    expect(Array.from(lookWindow(image, shape, 1, 1, 2)).slice(0, 4)).toEqual([35, 35, 35, 35]);
  });
  it("with a context, appends the wider window on the same centre, average-pooled to the window's size", () => {
    // window 2 at cx 0.5, cy 0.5: x0 2, y0 1; context 4: x0 1, y0 0, pooled 2x2
    const seen = Array.from(lookInput(image, shape, 0.5, 0.5, { window: 2, context: 4 }));
    expect(seen.slice(0, 8)).toEqual(Array.from(lookWindow(image, shape, 0.5, 0.5, 2)));
    // channel 0: rows 0-1 x cols 1-2 -> mean(1, 2, 11, 12) = 6.5; cols 3-4 -> 8.5; rows 2-3 -> 26.5, 28.5
    expect(seen.slice(8, 12)).toEqual([6.5, 8.5, 26.5, 28.5]);
    expect(seen.slice(12, 16)).toEqual([106.5, 108.5, 126.5, 128.5]);
    // at the corner the context repeats the edge before pooling: rows -2..1, cols -2..1 of channel 0
    expect(Array.from(lookInput(image, shape, 0, 0, { window: 2, context: 4 })).slice(8, 12)).toEqual([0, 0.5, 5, 5.5]);
    // no context: the window alone
    expect(Array.from(lookInput(image, shape, 0.5, 0.5, { window: 2 }))).toEqual(Array.from(lookWindow(image, shape, 0.5, 0.5, 2)));
  });
});

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
