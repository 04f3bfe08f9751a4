// The two detector layouts on synthetic tensors: which layout an output shape is, YOLOX's grid/stride
// decode (yolox/utils/demo_utils.py demo_postprocess) with objectness × class score, and YOLOX's
// preprocessing (BGR, 0..255, top-left letterbox padded with 114).
import { describe, expect, it } from "vitest";
import { decodeYoloxOutput, detectLayout, detectorLayout, letterbox, yoloxCandidateCount } from "../../src/detection/index.ts";

describe("detector layouts", () => {
  it("tells the layout from the output shape: [1, 4 + C, N] Ultralytics, [1, N, 5 + C] YOLOX, anything else neither", () => {
    expect(detectLayout([1, 84, 8400], null)).toBe("ultralytics");
    expect(detectLayout([1, 84, 8400], 80)).toBe("ultralytics");
    expect(detectLayout([1, 3549, 85], null)).toBe("yolox");
    expect(detectLayout([1, 3549, 85], 80)).toBe("yolox");
    // a transposed Ultralytics head with known classes, an end-to-end export with NMS inside, a 4-D output
    expect(detectLayout([1, 8400, 84], 80)).toBeNull();
    expect(detectLayout([1, 300, 6], 80)).toBeNull();
    expect(detectLayout([1, 3, 16, 16], null)).toBeNull();
    // symbolic candidates
    expect(detectLayout([1, 84, null], null)).toBe("ultralytics");
    expect(detectLayout([1, null, 85], null)).toBe("yolox");
  });

  it("counts YOLOX grid points over strides 8, 16, 32 and refuses a shape that does not fit the input", () => {
    expect(yoloxCandidateCount(416, 416)).toBe(52 * 52 + 26 * 26 + 13 * 13);
    expect(yoloxCandidateCount(640, 640)).toBe(8400);
    const yolox = detectorLayout("yolox");
    expect(yolox.misfit([1, 3549, 85], 80, { width: 416, height: 416 })).toBeNull();
    expect(yolox.misfit([1, 3549, 85], 80, { width: 640, height: 640 })).toMatch(/3549 candidates but a 640x640 input has 8400 grid points/);
    expect(yolox.misfit([1, 3549, 84], 80, { width: 416, height: 416 })).toMatch(/84 columns but 80 classes need 5 \+ 80 = 85/);
  });

  it("decodes a YOLOX grid point: centre (col + dx)·stride, size exp(dw)·stride, score objectness × class score", () => {
    const input = { width: 64, height: 64 };
    const n = yoloxCandidateCount(64, 64); // 8² + 4² + 2² = 84
    const classes = ["person", "car"];
    const data = new Float32Array(n * 7);
    // stride 16 grid (4x4) starts after the 64 stride-8 points; row 1, col 2 -> index 64 + 1·4 + 2
    const k = 64 + 4 + 2;
    data.set([0.5, 0.25, Math.log(2), Math.log(1.5), 0.9, 0.1, 0.8], k * 7);
    // below the threshold once multiplied: objectness 0.5 × class 0.4 = 0.2
    data.set([0, 0, 0, 0, 0.5, 0.4, 0], 3 * 7);
    const geometry = { scale: 0.5, padLeft: 0, padTop: 0, imageWidth: 128, imageHeight: 128 };
    const found = decodeYoloxOutput(data, [1, n, 7], classes, geometry, { scoreThreshold: 0.25, iouThreshold: 0.45 }, input);
    expect(found).toHaveLength(1);
    const [car] = found;
    expect(car!.class).toBe("car");
    expect(car!.score).toBeCloseTo(0.72, 6);
    // centre (2.5·16, 1.25·16) = (40, 20), size (32, 24) in input pixels; image = input / 0.5
    expect(car!.box.x).toBeCloseTo((40 - 16) / 0.5, 4);
    expect(car!.box.y).toBeCloseTo((20 - 12) / 0.5, 4);
    expect(car!.box.width).toBeCloseTo(64, 4);
    expect(car!.box.height).toBeCloseTo(48, 4);
  });

  it("prepares YOLOX input: BGR planes in 0..255, the image in the top-left corner, padded right and bottom with 114", () => {
    // a 4x2 pure-red image into an 8x8 input: scale 2, 8x4 image rows 0..3, padding rows 4..7
    const image = { width: 4, height: 2, channels: 3 as const, data: new Float32Array(24) };
    image.data.fill(1, 0, 8);
    const { tensor, geometry } = letterbox(image, { width: 8, height: 8, channels: 3, valueRange: [0, 255], padValue: 114 / 255, letterbox: true, channelOrder: "bgr", placement: "top-left" });
    expect(geometry).toEqual({ scale: 2, padLeft: 0, padTop: 0, imageWidth: 4, imageHeight: 2 });
    const at = (c: number, y: number, x: number) => tensor[c * 64 + y * 8 + x];
    // red lands in the third (R of BGR) plane
    expect([at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)]).toEqual([0, 0, 255]);
    expect(at(2, 3, 7)).toBe(255);
    for (const c of [0, 1, 2]) expect(at(c, 4, 0)).toBeCloseTo(114, 4);
    // Ultralytics' placement of the same image is centred, RGB
    const centred = letterbox(image, { width: 8, height: 8, channels: 3, valueRange: [0, 1], padValue: 114 / 255, letterbox: true });
    expect(centred.geometry.padTop).toBe(2);
    expect(centred.tensor[2 * 8]).toBe(1);
  });
});
