// encodeLargePng writes the PNG encodePng does (same pixels, same embedded record, read back by fast-png and by
// readPngRecord), deterministically, with Node's zlib; and refuses a buffer that does not match its size.
import { decode } from "fast-png";
import { describe, expect, it } from "vitest";
import { encodeLargePng, encodePng, PngError, readPngRecord } from "../../src/imaging/index.ts";
import type { GenerationRecord } from "../../src/provenance/index.ts";

const record = { model: { name: "road-hazards", version: "1.1.0", fileHashes: {} }, sampler: "ddim", steps: 2, guidance: 3, seed: 1, index: 4, parameters: { hazard: "animal", note: "café" }, executionProvider: "cpu", versions: {} } as unknown as GenerationRecord;

describe("encodeLargePng", () => {
  it("round-trips 8-bit RGB and 16-bit grey pixels and the record, byte-deterministically", async () => {
    const rgb = { width: 37, height: 23, channels: 3 as const, depth: 8 as const, data: Uint8Array.from({ length: 37 * 23 * 3 }, (_, i) => (i * 31 + (i >> 5)) % 256) };
    const grey = { width: 19, height: 11, channels: 1 as const, depth: 16 as const, data: Uint16Array.from({ length: 19 * 11 }, (_, i) => (i * 2711) % 65536) };
    for (const pixels of [rgb, grey]) {
      const bytes = await encodeLargePng(pixels, record);
      const decoded = decode(bytes);
      expect([decoded.width, decoded.height, decoded.channels, decoded.depth]).toEqual([pixels.width, pixels.height, pixels.channels, pixels.depth]);
      expect(Array.from(decoded.data)).toEqual(Array.from(pixels.data));
      expect(readPngRecord(bytes)).toEqual(readPngRecord(encodePng(pixels, record)));
      expect(readPngRecord(bytes)).toEqual(record);
      expect(Buffer.from(await encodeLargePng(pixels, record)).equals(Buffer.from(bytes))).toBe(true);
    }
    expect(readPngRecord(await encodeLargePng(rgb))).toBeNull();
  });

  it("refuses a buffer of the wrong size or type", async () => {
    await expect(encodeLargePng({ width: 4, height: 4, channels: 3, depth: 8, data: new Uint8Array(47) })).rejects.toBeInstanceOf(PngError);
    await expect(encodeLargePng({ width: 4, height: 4, channels: 1, depth: 16, data: new Uint8Array(16) })).rejects.toThrow(/depth 16 does not match/);
  });
});
