// encodeLargePng writes the PNG encodePng does (same pixels, same embedded record, read back by fast-png and by
// readPngRecord), deterministically, with Node's zlib; and refuses a buffer that does not match its size.
import { inflateSync } from "node:zlib";
import { decode } from "fast-png";
import { describe, expect, it } from "vitest";
import { encodeLargePng, encodePngBands, encodePng, encodeStoredPng, LARGE_PNG_BAND_ROWS, PngError, readPngRecord, type PngPixels } from "../../src/imaging/index.ts";
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

  it("deflates band by band into one zlib stream whose Adler-32 zlib itself accepts", async () => {
    const rows = 3 * LARGE_PNG_BAND_ROWS + 5;
    const rgb = { width: 29, height: rows, channels: 3 as const, depth: 8 as const, data: Uint8Array.from({ length: 29 * rows * 3 }, (_, i) => (i * 131 + (i >> 7) * 7) % 256) };
    const grey = { width: 13, height: rows, channels: 1 as const, depth: 16 as const, data: Uint16Array.from({ length: 13 * rows }, (_, i) => (i * 40503 + 17) % 65536) };
    for (const pixels of [rgb, grey]) {
      const png = Buffer.from(await encodeLargePng(pixels));
      // zlib's own inflate checks the stream's Adler-32 and refuses a wrong one
      const rowBytes = (pixels.width * pixels.channels * pixels.depth) / 8;
      expect(inflateSync(idatOf(png)).length).toBe(rows * (rowBytes + 1));
      expect(Array.from(decode(png).data)).toEqual(Array.from(pixels.data));
      const broken = Buffer.from(png);
      const idat = broken.indexOf("IDAT");
      const length = broken.readUInt32BE(idat - 4);
      const last = idat + 4 + length - 1; // the checksum's last byte
      broken[last] = broken[last]! ^ 1;
      expect(() => inflateSync(idatOf(broken))).toThrow(/incorrect data check/);
    }
  });

  it("re-deflates only the bands whose rows (or the row above them) changed, and writes the same bytes as without reuse", async () => {
    const rows = 4 * LARGE_PNG_BAND_ROWS;
    const source = { width: 31, height: rows, channels: 3 as const, depth: 8 as const, data: Uint8Array.from({ length: 31 * rows * 3 }, (_, i) => (i * 37 + (i >> 6)) % 256) };
    const sourceBands = await encodePngBands(source);
    // one pixel changed in the last row of band 1: band 1 holds the row, band 2's first row is filtered against it
    const changed = { ...source, data: source.data.slice() };
    const at = ((2 * LARGE_PNG_BAND_ROWS - 1) * 31 + 4) * 3 + 1;
    changed.data[at] = changed.data[at]! ^ 0x55;
    const reused = await encodePngBands(changed, sourceBands);
    expect(reused.segments.map((segment, k) => segment === sourceBands.segments[k])).toEqual([true, false, false, true]);
    const png = await encodeLargePng(changed, record, sourceBands);
    expect(Buffer.from(png).equals(Buffer.from(await encodeLargePng(changed, record)))).toBe(true);
    expect(Array.from(decode(png).data)).toEqual(Array.from(changed.data));
    expect(readPngRecord(png)).toEqual(record);
    // bands of an image of another size are not reused
    const other: PngPixels = { width: 30, height: rows, channels: 3, depth: 8, data: changed.data.subarray(0, 30 * rows * 3) };
    expect(Array.from(decode(await encodeLargePng(other, undefined, sourceBands)).data)).toEqual(Array.from(other.data));
  });

  it("writes an uncompressed PNG (stored blocks) that decoders read back exactly", () => {
    const rgb = { width: 41, height: 9, channels: 3 as const, depth: 8 as const, data: Uint8Array.from({ length: 41 * 9 * 3 }, (_, i) => (i * 53) % 256) };
    const grey = { width: 7, height: 5, channels: 1 as const, depth: 16 as const, data: Uint16Array.from({ length: 35 }, (_, i) => (i * 9001) % 65536) };
    for (const pixels of [rgb, grey]) {
      const png = Buffer.from(encodeStoredPng(pixels));
      const decoded = decode(png);
      expect([decoded.width, decoded.height, decoded.channels, decoded.depth]).toEqual([pixels.width, pixels.height, pixels.channels, pixels.depth]);
      expect(Array.from(decoded.data)).toEqual(Array.from(pixels.data));
      const rowBytes = (pixels.width * pixels.channels * pixels.depth) / 8;
      // stored: the zlib stream is no shorter than the rows it holds
      expect(idatOf(png).length).toBeGreaterThan(pixels.height * (rowBytes + 1));
    }
    expect(() => encodeStoredPng({ width: 3, height: 3, channels: 3, depth: 8, data: new Uint8Array(26) })).toThrow(PngError);
  });

  it("refuses a buffer of the wrong size or type", async () => {
    await expect(encodeLargePng({ width: 4, height: 4, channels: 3, depth: 8, data: new Uint8Array(47) })).rejects.toBeInstanceOf(PngError);
    await expect(encodeLargePng({ width: 4, height: 4, channels: 1, depth: 16, data: new Uint8Array(16) })).rejects.toThrow(/depth 16 does not match/);
  });
});

/** The IDAT chunks' data, concatenated: the zlib stream. */
function idatOf(png: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString("latin1", at + 4, at + 8) === "IDAT") parts.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  return Buffer.concat(parts);
}
