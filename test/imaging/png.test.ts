import { decode } from "fast-png";
import { describe, expect, it } from "vitest";
import { encodePng, PngError, readPngRecord, tensorToPixels } from "../../src/imaging/png.ts";
import type { GenerationRecord } from "../../src/provenance/index.ts";

const record: GenerationRecord = {
  model: { name: "road-hazards", version: "1.0.0", fileHashes: { "denoiser.onnx": "ab".repeat(32) } },
  sampler: "dpmpp-2m",
  steps: 20,
  guidance: 3,
  seed: 7,
  index: 5,
  parameters: { hazard: "pedestrian", note: "Straße — 雪" },
  executionProvider: "cpu",
  versions: { rareforge: "0.1.0", onnxruntime: "1.30.0" },
};

describe("PNG with the generation record", () => {
  it("round-trips the record (non-ASCII included) through a tEXt chunk", () => {
    const png = encodePng({ width: 2, height: 1, channels: 3, depth: 8, data: new Uint8Array([255, 0, 0, 0, 255, 0]) }, record);
    expect(readPngRecord(png)).toEqual(record);
    const decoded = decode(png);
    expect(Array.from(decoded.data)).toEqual([255, 0, 0, 0, 255, 0]);
    expect(Object.keys(decoded.text)).toEqual(["rareforge:generation"]);
  });

  it("is deterministic and returns null without a record", () => {
    const pixels = { width: 1, height: 1, channels: 1 as const, depth: 16 as const, data: new Uint16Array([4095]) };
    expect(Buffer.from(encodePng(pixels, record)).equals(Buffer.from(encodePng(pixels, record)))).toBe(true);
    expect(readPngRecord(encodePng(pixels))).toBeNull();
    expect(() => readPngRecord(new Uint8Array([1, 2, 3]))).toThrow(PngError);
  });

  it("maps model values to 8-bit RGB and 16-bit gray with the stored range", () => {
    const rgb = tensorToPixels({ data: new Float32Array([-1, 0, 1, 2, -2, 0.5]), channels: 3, height: 1, width: 2 }, { format: "png-rgb8", valueRange: [-1, 1] });
    // planar [R: -1, 0][G: 1, 2][B: -2, 0.5] -> interleaved, clamped
    expect(Array.from(rgb.data)).toEqual([0, 255, 0, 128, 255, 191]);
    const gray = tensorToPixels({ data: new Float32Array([-1, 0, 1]), channels: 1, height: 1, width: 3 }, { format: "png-gray16", valueRange: [-1, 1], storedRange: [0, 4095] });
    expect(Array.from(gray.data)).toEqual([0, 2048, 4095]);
    expect(gray.depth).toBe(16);
  });
});
