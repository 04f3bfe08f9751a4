// Detectors that cannot be used as declared are refused with typed errors from the file alone, before a
// session exists or an image is read.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeDetector, DetectorPackageError, loadDetector, validateClassMap, COCO_CLASS_MAP, parseClassMapArgument } from "../../src/detection/index.ts";
import { sha256File } from "../../src/models/package.ts";
import { YOLOV8N_INT8, sharedDetectorAvailable } from "./helpers/shared-data.ts";

// The test diffusion denoiser: one image-shaped input "sample" [batch,3,16,16] among three, output [batch,3,16,16].
const DENOISER = new URL("../fixtures/tiny-model/denoiser.onnx", import.meta.url).pathname;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function packageAround(onnx: string, overrides: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "rareforge-detector-"));
  dirs.push(dir);
  copyFileSync(onnx, join(dir, "detector.onnx"));
  writeFileSync(
    join(dir, "detector.json"),
    JSON.stringify({
      schema: "rareforge.detector/1",
      name: "not-a-detector",
      version: "1.0.0",
      files: { "detector.onnx": sha256File(join(dir, "detector.onnx")) },
      file: "detector.onnx",
      input: { name: "sample", width: 16, height: 16, channels: 3, layout: "NCHW", valueRange: [0, 1], letterbox: true, padValue: 0.447 },
      output: { name: "model_output", layout: "yolov8", box: "cxcywh", scores: "sigmoid", nms: false },
      classes: ["pedestrian", "cone"],
      classMap: { pedestrian: "pedestrian" },
      ...overrides,
    }),
  );
  return dir;
}

async function refusal(promise: Promise<unknown>): Promise<DetectorPackageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DetectorPackageError);
  return error as DetectorPackageError;
}

describe("detector refusals", () => {
  it("an ONNX whose output is not [batch, 4 + classes, N] is refused as unexpected-output-layout, naming its shape", async () => {
    const error = await refusal(loadDetector(packageAround(DENOISER)));
    expect(error.code).toBe("unexpected-output-layout");
    expect(error.message).toContain('"model_output" is [batch, 3, 16, 16]');
  });

  it("a bare ONNX with several inputs is refused as unexpected-input-layout", async () => {
    const error = await refusal(loadDetector(DENOISER, { classes: ["a", "b"] }));
    expect(error.code).toBe("unexpected-input-layout");
  });

  it("a bare ONNX without Ultralytics names and no classes given is refused as no-class-names", async () => {
    expect((await refusal(loadDetector(DENOISER))).code).toBe("no-class-names");
  });

  it("a changed ONNX file (hash mismatch), a missing package and a malformed manifest are refused", async () => {
    const dir = packageAround(DENOISER);
    writeFileSync(join(dir, "detector.onnx"), "tampered");
    expect((await refusal(loadDetector(dir))).code).toBe("invalid-manifest");
    expect((await refusal(loadDetector(join(dir, "nowhere")))).code).toBe("not-found");
    expect((await refusal(loadDetector(packageAround(DENOISER, { output: { name: "model_output", layout: "ssd" } })))).code).toBe("invalid-manifest");
  });

  it("a FIFO given as the ONNX file is refused at once as not a regular file (it is never opened for a blocking read)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-detector-"));
    dirs.push(dir);
    const fifo = join(dir, "model.onnx");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const error = await refusal(loadDetector(fifo, { classes: ["a"] }));
    expect(error.code).toBe("not-found");
    expect(error.message).toBe(`${fifo} is not a regular file`);
  });

  it("a sparse 2 GiB ONNX file is refused as too-large from its size, before it is read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-detector-"));
    dirs.push(dir);
    const huge = join(dir, "model.onnx");
    writeFileSync(huge, "");
    truncateSync(huge, 2 ** 31);
    const error = await refusal(loadDetector(huge, { classes: ["a"] }));
    expect(error.code).toBe("too-large");
    expect(error.message).toBe(`${huge} has 2147483648 bytes; the limit for a detector file is 536870912 (RAREFORGE_MAX_DETECTOR_BYTES)`);
    expect((await refusal(loadDetector(DENOISER, { classes: ["a"], maxBytes: 1000 }))).code).toBe("too-large");
  });

  it("a class map naming classes the detector lacks is refused as unknown-class, listing them", () => {
    expect(() => validateClassMap({ pedestrian: ["person"], animal: ["unicorn", "dog"] }, ["person", "dog"])).toThrow(/animal -> "unicorn"/);
    try {
      validateClassMap({ animal: ["unicorn"] }, ["person"]);
    } catch (error) {
      expect(error).toBeInstanceOf(DetectorPackageError);
      expect((error as DetectorPackageError).code).toBe("unknown-class");
    }
    expect(validateClassMap(COCO_CLASS_MAP, ["person", "bicycle", "car", "bus", "truck", "dog", "horse", "sheep", "cow", "bear", "cat", "bird", "elephant", "zebra", "giraffe"])).toEqual(COCO_CLASS_MAP);
    expect(parseClassMapArgument("pedestrian=person, cyclist=bicycle|person")).toEqual({ pedestrian: ["person"], cyclist: ["bicycle", "person"] });
  });

  it.skipIf(!sharedDetectorAvailable)("the real export with a class map naming an unknown class is refused before a session is created", async () => {
    const error = await refusal(loadDetector(YOLOV8N_INT8, { classMap: { animal: ["dog", "unicorn"], pedestrian: "person" } }));
    expect(error.code).toBe("unknown-class");
    expect(error.message).toContain('"unicorn"');
    await expect(describeDetector(YOLOV8N_INT8, { thresholds: { scoreThreshold: 1.5 } })).rejects.toMatchObject({ code: "invalid-threshold" });
  });
});
