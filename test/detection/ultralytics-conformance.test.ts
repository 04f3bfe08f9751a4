// A real Ultralytics YOLOv8n export (int8, opset 20), registered unchanged: class names from its ONNX
// metadata, letterbox/decode/NMS on our side. Reference: Ultralytics' own predict on bus.jpg finds the bus
// and four people (three standing, one cut off at the left edge).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { iou, loadDetector, readOnnxModelInfo, type Detector } from "../../src/detection/index.ts";
import { decodeImage } from "../../src/imaging/index.ts";
import { sha256File } from "../../src/models/package.ts";
import { BUS_JPG, YOLOV8N_INT8, readShared, sharedDetectorAvailable } from "./helpers/shared-data.ts";

describe.skipIf(!sharedDetectorAvailable)("Ultralytics YOLOv8n int8 export on bus.jpg", () => {
  let detector: Detector;
  beforeAll(async () => {
    detector = await loadDetector(YOLOV8N_INT8, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await detector?.dispose();
  });

  it("reads the 80 COCO class names and the 640x640 input from the file itself", () => {
    expect(detector.kind).toBe("ultralytics-onnx");
    expect(detector.classes).toHaveLength(80);
    expect(detector.classes.slice(0, 6)).toEqual(["person", "bicycle", "car", "motorcycle", "airplane", "bus"]);
    expect(detector.input).toMatchObject({ name: "images", width: 640, height: 640, channels: 3 });
    expect(detector.outputName).toBe("output0");
    // the scenario vocabulary maps onto COCO names by default
    expect(detector.classMap.pedestrian).toEqual(["person"]);
    expect(detector.classMap.vehicle).toEqual(["car", "truck", "bus"]);
  });

  it("finds the bus and at least three people, in image pixels", async () => {
    const image = decodeImage(readShared(BUS_JPG));
    expect([image.width, image.height]).toEqual([810, 1080]);
    const detections = await detector.detect(image);
    const people = detections.filter((d) => d.class === "person" && d.score >= 0.5);
    const bus = detections.find((d) => d.class === "bus");
    expect(people.length).toBeGreaterThanOrEqual(3);
    expect(bus).toBeDefined();
    expect(bus!.score).toBeGreaterThan(0.5);
    // The bus spans nearly the whole width in the upper middle of the frame (Ultralytics: ~[17, 231, 802, 768]).
    expect(iou(bus!.box, { x: 17, y: 231, width: 785, height: 537 })).toBeGreaterThan(0.85);
    for (const d of detections) {
      expect(d.box.x).toBeGreaterThanOrEqual(0);
      expect(d.box.x + d.box.width).toBeLessThanOrEqual(810);
      expect(d.box.y + d.box.height).toBeLessThanOrEqual(1080);
    }
    // sorted by score, and class-wise NMS left no duplicate of the same person
    expect(detections.map((d) => d.score)).toEqual([...detections.map((d) => d.score)].sort((a, b) => b - a));
    for (const a of people) for (const b of people) if (a !== b) expect(iou(a.box, b.box)).toBeLessThan(0.45);
  });

  it("reports the declared graph: opset 20, images [1,3,640,640] -> output0 [1,84,8400]", () => {
    const info = readOnnxModelInfo(readShared(YOLOV8N_INT8));
    expect(info.opsetVersion).toBe(20);
    expect(info.metadata.task).toBe("detect");
    expect(info.inputs.map((i) => [i.name, i.shape?.map((d) => d.value)])).toEqual([["images", [1, 3, 640, 640]]]);
    expect(info.outputs.map((o) => [o.name, o.shape?.map((d) => d.value)])).toEqual([["output0", [1, 84, 8400]]]);
  });

  it("loads the same file wrapped in a detector.json package with a road-hazards class map", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-detector-"));
    try {
      // a temporary package outside the repo: the third-party file is never copied into the project
      copyFileSync(YOLOV8N_INT8, join(dir, "detector.onnx"));
      const manifest = {
        schema: "rareforge.detector/1",
        name: "coco-yolov8n",
        version: "8.4.115",
        files: { "detector.onnx": sha256File(join(dir, "detector.onnx")) },
        file: "detector.onnx",
        input: { name: "images", width: 640, height: 640, channels: 3, layout: "NCHW", valueRange: [0, 1], letterbox: true, padValue: 114 / 255 },
        output: { name: "output0", layout: "yolov8", shape: [1, 84, 8400], box: "cxcywh", boxUnits: "input pixels", scores: "sigmoid", nms: false },
        classes: detector.classes,
        classField: "hazard",
        classMap: { pedestrian: "person", vehicle: ["car", "truck", "bus"] },
        defaults: { scoreThreshold: 0.3, iouThreshold: 0.45, matchIoU: 0.5 },
      };
      writeFileSync(join(dir, "detector.json"), JSON.stringify(manifest));
      const packaged = await loadDetector(dir, { intraOpThreads: 1 });
      try {
        expect(packaged.kind).toBe("package");
        expect(packaged.classMap).toEqual({ pedestrian: ["person"], vehicle: ["car", "truck", "bus"] });
        const detections = await packaged.detect(decodeImage(readShared(BUS_JPG)));
        // the package's own scoreThreshold 0.3 applies
        expect(detections.every((d) => d.score >= 0.3)).toBe(true);
        expect(detections.some((d) => d.class === "bus")).toBe(true);
      } finally {
        await packaged.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
