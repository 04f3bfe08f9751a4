// A real YOLOX-nano export (Megvii, opset 11) used unchanged: its layout found from the output shape
// [1, 3549, 85], COCO-80 class names by default (it carries no metadata), BGR 0..255 top-left letterbox and
// the grid/stride decode on our side. References: the shared data README (the bus and the people on
// bus.jpg; the cars of a Udacity highway frame at 0.77-0.88) and the Ultralytics YOLOv8n export's
// detections on the same images.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COCO_CLASSES, iou, loadDetector, type Detection, type Detector } from "../../src/detection/index.ts";
import { decodeImage } from "../../src/imaging/index.ts";
import { sha256File } from "../../src/models/package.ts";
import { BUS_JPG, UDACITY_TEST1, YOLOV8N_INT8, YOLOX_NANO, readShared, sharedYoloxAvailable } from "./helpers/shared-data.ts";

const CONFIDENT = 0.5;

/** Each confident reference detection against the best same-class candidate's IoU. */
function matchAgainst(reference: readonly Detection[], candidates: readonly Detection[]): { class: string; iou: number }[] {
  return reference
    .filter((r) => r.score >= CONFIDENT)
    .map((r) => ({ class: r.class, iou: Math.max(0, ...candidates.filter((c) => c.class === r.class).map((c) => iou(c.box, r.box))) }));
}

describe.skipIf(!sharedYoloxAvailable)("YOLOX-nano export", () => {
  let yolox: Detector;
  let yolov8: Detector;
  beforeAll(async () => {
    yolox = await loadDetector(YOLOX_NANO, { intraOpThreads: 1 });
    yolov8 = await loadDetector(YOLOV8N_INT8, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await yolox?.dispose();
    await yolov8?.dispose();
  });

  it("is told apart from an Ultralytics export by its output shape and gets YOLOX's preprocessing and COCO's 80 names", () => {
    expect(yolox.kind).toBe("yolox-onnx");
    expect(yolox.layout).toBe("yolox");
    expect(yolov8.layout).toBe("ultralytics");
    expect(yolox.classes).toEqual(yolov8.classes);
    expect(yolox.input).toMatchObject({ name: "images", width: 416, height: 416, channels: 3, channelOrder: "bgr", valueRange: [0, 255], placement: "top-left", letterbox: true });
    expect(yolox.input.padValue * 255).toBeCloseTo(114, 6);
    expect(yolox.outputName).toBe("output");
    expect(yolox.classMap.vehicle).toEqual(["car", "truck", "bus"]);
  });

  it("finds the bus and at least three people on bus.jpg, where the YOLOv8n export finds them", async () => {
    const image = decodeImage(readShared(BUS_JPG));
    const found = await yolox.detect(image);
    const bus = found.find((d) => d.class === "bus");
    expect(bus?.score).toBeGreaterThan(0.8);
    // Ultralytics' reference box for the bus: ~[17, 231, 802, 768]
    expect(iou(bus!.box, { x: 17, y: 231, width: 785, height: 537 })).toBeGreaterThan(0.85);
    expect(found.filter((d) => d.class === "person" && d.score >= CONFIDENT).length).toBeGreaterThanOrEqual(3);
    const matches = matchAgainst(await yolov8.detect(image), found);
    expect(matches.map((m) => m.class).sort()).toEqual(["bus", "person", "person", "person"]);
    for (const m of matches) expect(m.iou, m.class).toBeGreaterThanOrEqual(0.5);
    for (const d of found) {
      expect(d.box.x).toBeGreaterThanOrEqual(0);
      expect(d.box.x + d.box.width).toBeLessThanOrEqual(810);
      expect(d.box.y + d.box.height).toBeLessThanOrEqual(1080);
    }
  });

  it("finds the two cars of a Udacity highway frame at 0.77 or more, boxed where the YOLOv8n export boxes them", async () => {
    const image = decodeImage(readShared(UDACITY_TEST1));
    expect([image.width, image.height]).toEqual([1280, 720]);
    const found = await yolox.detect(image);
    const cars = found.filter((d) => d.class === "car" && d.score >= 0.77);
    expect(cars).toHaveLength(2);
    // both in the right half, on the road (below the horizon at ~y 400)
    for (const car of cars) {
      expect(car.box.x).toBeGreaterThan(640);
      expect(car.box.y).toBeGreaterThan(380);
      expect(car.box.y + car.box.height).toBeLessThan(560);
    }
    const matches = matchAgainst(await yolov8.detect(image), found);
    expect(matches.map((m) => m.class)).toEqual(["car", "car"]);
    for (const m of matches) expect(m.iou).toBeGreaterThanOrEqual(0.5);
  });

  it("refuses a layout named against the file's shape, with the shape it has", async () => {
    const asUltralytics = await loadDetector(YOLOX_NANO, { layout: "ultralytics", classes: COCO_CLASSES }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(asUltralytics?.code).toBe("unexpected-output-layout");
    expect(asUltralytics?.message).toContain('"output" [1, 3549, 85] has 3549 rows but 80 classes need 4 + 80 = 84');
    const asYolox = await loadDetector(YOLOV8N_INT8, { layout: "yolox" }).then(() => null, (e: unknown) => e as { code: string });
    expect(asYolox?.code).toBe("unexpected-output-layout");
  });

  it("loads the same file wrapped in a detector.json package with output.layout yolox (BGR 0..255 by default)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-yolox-"));
    try {
      // a temporary package outside the repo: the third-party file is never copied into the project
      copyFileSync(YOLOX_NANO, join(dir, "detector.onnx"));
      const manifest = {
        schema: "rareforge.detector/1",
        name: "coco-yolox-nano",
        version: "0.1.1",
        files: { "detector.onnx": sha256File(join(dir, "detector.onnx")) },
        file: "detector.onnx",
        input: { name: "images", width: 416, height: 416, channels: 3, layout: "NCHW" },
        output: { name: "output", layout: "yolox", shape: [1, 3549, 85] },
        classes: COCO_CLASSES,
        classMap: { vehicle: ["car", "truck", "bus"] },
      };
      writeFileSync(join(dir, "detector.json"), JSON.stringify(manifest));
      const packaged = await loadDetector(dir, { intraOpThreads: 1 });
      try {
        expect(packaged).toMatchObject({ kind: "package", layout: "yolox" });
        expect(packaged.input).toMatchObject({ channelOrder: "bgr", valueRange: [0, 255], placement: "top-left" });
        const image = decodeImage(readShared(UDACITY_TEST1));
        const bare = await yolox.detect(image);
        expect((await packaged.detect(image)).map((d) => [d.class, d.score.toFixed(4)])).toEqual(bare.map((d) => [d.class, d.score.toFixed(4)]));
      } finally {
        await packaged.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
