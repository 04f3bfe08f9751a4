import { describe, expect, it } from "vitest";
import { decodeYoloOutput, letterbox, nonMaxSuppression, parseUltralyticsNames, ULTRALYTICS_PAD_VALUE, type Detection } from "../../src/detection/index.ts";
import type { DecodedImage } from "../../src/imaging/index.ts";

const white = (width: number, height: number): DecodedImage => ({ width, height, channels: 3, data: new Float32Array(width * height * 3).fill(1) });

describe("letterbox", () => {
  it("fits a portrait image into the square input, centred, with Ultralytics' grey 114 padding", () => {
    // 810x1080 (bus.jpg) into 640: scale 640/1080, inner 480x640, 80 px of grey either side
    const { tensor, geometry } = letterbox(white(810, 1080), { width: 640, height: 640, channels: 3, padValue: ULTRALYTICS_PAD_VALUE, valueRange: [0, 1], letterbox: true });
    expect(geometry).toMatchObject({ padLeft: 80, padTop: 0, imageWidth: 810, imageHeight: 1080 });
    expect(geometry.scale).toBeCloseTo(640 / 1080, 12);
    expect(tensor).toHaveLength(3 * 640 * 640);
    expect(tensor[0]).toBeCloseTo(114 / 255, 6); // left padding
    expect(tensor[79]).toBeCloseTo(114 / 255, 6);
    expect(tensor[80]).toBe(1); // image starts
    expect(tensor[559]).toBe(1);
    expect(tensor[560]).toBeCloseTo(114 / 255, 6); // right padding
  });

  it("replicates a grayscale image to three channels and maps onto the value range", () => {
    const gray: DecodedImage = { width: 4, height: 2, channels: 1, data: new Float32Array(8).fill(0.5) };
    const { tensor, geometry } = letterbox(gray, { width: 4, height: 4, channels: 3, padValue: 0, valueRange: [-1, 1], letterbox: true });
    expect(geometry.padTop).toBe(1);
    expect(Array.from(tensor.subarray(0, 4))).toEqual([-1, -1, -1, -1]);
    for (let c = 0; c < 3; c++) expect(tensor[c * 16 + 4]).toBeCloseTo(0, 6);
  });
});

describe("decodeYoloOutput", () => {
  it("keeps candidates over the threshold, applies class-wise NMS, and maps boxes back to image pixels", () => {
    // 2 classes, 4 candidates, input 640 letterboxed from an 810x1080 image (scale 640/1080, padLeft 80)
    const n = 4;
    const rows = [
      [320, 322, 100, 500], // cx
      [320, 321, 100, 500], // cy
      [100, 100, 50, 40], // w
      [200, 200, 50, 40], // h
      [0.9, 0.8, 0.1, 0.05], // class 0
      [0.1, 0.7, 0.6, 0.2], // class 1
    ];
    const data = new Float32Array(rows.flat());
    const geometry = { scale: 640 / 1080, padLeft: 80, padTop: 0, imageWidth: 810, imageHeight: 1080 };
    const detections = decodeYoloOutput(data, [1, 6, n], ["person", "bus"], geometry, { scoreThreshold: 0.25, iouThreshold: 0.45 });
    // candidate 1 is class 0 (0.8) overlapping candidate 0 -> suppressed; candidate 3 is below threshold
    expect(detections.map((d) => [d.class, d.score])).toEqual([
      ["person", expect.closeTo(0.9, 6)],
      ["bus", expect.closeTo(0.6, 6)],
    ]);
    const person = detections[0]!.box;
    expect(person.x).toBeCloseTo((270 - 80) * (1080 / 640), 3);
    expect(person.y).toBeCloseTo(220 * (1080 / 640), 3);
    expect(person.width).toBeCloseTo(100 * (1080 / 640), 3);
    expect(person.height).toBeCloseTo(200 * (1080 / 640), 3);
    // the bus candidate lies partly in the left padding: clipped to the image
    expect(detections[1]!.box.x).toBe(0);
  });

  it("NMS is class-wise: overlapping boxes of different classes both survive", () => {
    const box = { x: 0, y: 0, width: 10, height: 10 };
    const detections: Detection[] = [
      { class: "person", classIndex: 0, score: 0.9, box },
      { class: "bicycle", classIndex: 1, score: 0.8, box },
      { class: "person", classIndex: 0, score: 0.7, box: { ...box, x: 1 } },
    ];
    expect(nonMaxSuppression(detections, 0.45).map((d) => d.class)).toEqual(["person", "bicycle"]);
  });
});

describe("parseUltralyticsNames", () => {
  it("reads the Python dict literal Ultralytics writes, and rejects gaps", () => {
    expect(parseUltralyticsNames("{0: 'person', 1: \"traffic light\", 2: 'teddy bear'}")).toEqual(["person", "traffic light", "teddy bear"]);
    expect(parseUltralyticsNames("{0: 'a', 2: 'c'}")).toBeNull();
    expect(parseUltralyticsNames("person,car")).toBeNull();
  });
});

describe("readOnnxModelInfo (minimal ONNX protobuf reader)", () => {
  it("reads the declared inputs and outputs of an in-repo model, symbolic batch included", async () => {
    const { readFileSync } = await import("node:fs");
    const { readOnnxModelInfo } = await import("../../src/detection/index.ts");
    const info = readOnnxModelInfo(new Uint8Array(readFileSync(new URL("../fixtures/tiny-model/denoiser.onnx", import.meta.url))));
    expect(info.inputs.map((i) => i.name)).toEqual(["sample", "timestep", "condition"]);
    expect(info.outputs[0]!.shape).toEqual([
      { value: null, param: "batch" },
      { value: 3, param: null },
      { value: 16, param: null },
      { value: 16, param: null },
    ]);
  });

  it("refuses bytes that are not an ONNX model with a typed error", async () => {
    const { readOnnxModelInfo, DetectorPackageError } = await import("../../src/detection/index.ts");
    expect(() => readOnnxModelInfo(new TextEncoder().encode("definitely not protobuf"), "x.onnx")).toThrow(DetectorPackageError);
    expect(() => readOnnxModelInfo(new Uint8Array([0x08, 0x07, 0x3a, 0x7f, 0x00]), "x.onnx")).toThrow(/not a readable ONNX model/);
  });
});
