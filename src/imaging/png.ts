// PNG output with the generation record in a tEXt chunk (fast-png writes and reads tEXt; the record is JSON
// with every non-ASCII character escaped, so it is valid Latin-1), and model-space tensors -> pixels.
import { promisify } from "node:util";
import { constants as zlibConstants, crc32, deflateRaw, deflateSync } from "node:zlib";
import { decode, encode } from "fast-png";
import type { GenerationRecord } from "../provenance/index.ts";


/** The tEXt keyword holding the generation record. */
export const RECORD_KEYWORD = "rareforge:generation";

export const PNG_FORMATS = ["png-rgb8", "png-gray16"] as const;
export type PngFormat = (typeof PNG_FORMATS)[number];

/** Pixels ready for PNG: 8-bit RGB (interleaved) or 16-bit grayscale, row-major. */
export interface PngPixels {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly depth: 8 | 16;
  readonly data: Uint8Array | Uint16Array;
}

export class PngError extends Error {
  override readonly name = "PngError";
}

/** JSON with every char > 0x7e escaped as \uXXXX: ASCII, so a valid tEXt (Latin-1) payload. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Encodes pixels as PNG with the record (when given) in a tEXt chunk. Deterministic: same input, same bytes. */
export function encodePng(pixels: PngPixels, record?: GenerationRecord): Uint8Array {
  const expected = pixels.width * pixels.height * pixels.channels;
  if (pixels.data.length !== expected) {
    throw new PngError(`pixel buffer has ${pixels.data.length} values, ${pixels.width}x${pixels.height}x${pixels.channels} needs ${expected}`);
  }
  if ((pixels.depth === 16) !== pixels.data instanceof Uint16Array) throw new PngError(`depth ${pixels.depth} does not match the buffer type`);
  return encode({
    width: pixels.width,
    height: pixels.height,
    data: pixels.data,
    depth: pixels.depth,
    channels: pixels.channels,
    ...(record ? { text: { [RECORD_KEYWORD]: asciiJson(record) } } : {}),
  });
}

/**
 * zlib level of encodeLargePng: level 1 over Up-filtered rows deflates a 1280×720 camera frame in about a third of
 * fast-png's time at level 3, and smaller (udacity_test1: 1.07 MB; unfiltered rows at level 1: 1.63 MB in 53 ms
 * against 33 ms).
 */
export const LARGE_PNG_ZLIB_LEVEL = 1;

/**
 * Rows per band of encodeLargePng's image data. Each band is deflated on its own, so an image that differs from
 * one already encoded in a few rows (a hazard inserted into a camera frame) deflates only the bands those rows
 * touch. With Z_RLE (matches at distance 1 only) a band loses nothing by not seeing the rows before it; each
 * costs a block header and a 5-byte sync marker.
 */
export const LARGE_PNG_BAND_ROWS = 16;

/** encodeLargePng's deflated image data of one image, band by band: what encoding a changed copy of it reuses. */
export interface PngBands {
  /** The image the bands encode (a reference, not a copy: the rows of a changed copy are compared with it). */
  readonly pixels: PngPixels;
  /** Each band's deflate segment (raw deflate, ending in a sync flush, never final). */
  readonly segments: readonly Buffer[];
  /** Adler-32 of each band's filtered bytes. */
  readonly adlers: readonly number[];
}

const deflateRawAsync = promisify(deflateRaw);
const rowBytesOf = (pixels: PngPixels) => (pixels.width * pixels.channels * pixels.depth) / 8;

function checkPixels(pixels: PngPixels): void {
  const { width, height, channels, depth } = pixels;
  if (pixels.data.length !== width * height * channels) throw new PngError(`pixel buffer has ${pixels.data.length} values, ${width}x${height}x${channels} needs ${width * height * channels}`);
  if ((depth === 16) !== pixels.data instanceof Uint16Array) throw new PngError(`depth ${depth} does not match the buffer type`);
}

/** The pixels' memory as bytes (no copy): for comparing rows, whatever the sample size. */
const bytesOf = (pixels: PngPixels) => Buffer.from(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength);

/**
 * Rows [first, end) as PNG stores them: each a filter-type byte and its samples (big-endian for 16 bits), Up-filtered
 * (filter type 2: each byte minus the byte above it, PNG spec 1.2 §6.3; neighbouring rows of a photo are alike), the
 * image's first row unfiltered (type 0).
 */
function filteredRows(pixels: PngPixels, first: number, end: number): Buffer {
  const rowBytes = rowBytesOf(pixels);
  const from = Math.max(0, first - 1);
  const samples = storedSamples(pixels, from, end);
  const out = Buffer.allocUnsafe((end - first) * (rowBytes + 1));
  for (let y = first; y < end; y++) {
    const row = (y - first) * (rowBytes + 1);
    const own = (y - from) * rowBytes;
    if (y === 0) {
      out[row] = 0;
      samples.copy(out, row + 1, own, own + rowBytes);
      continue;
    }
    out[row] = 2;
    const above = own - rowBytes;
    for (let k = 0; k < rowBytes; k++) out[row + 1 + k] = (samples[own + k]! - samples[above + k]!) & 0xff;
  }
  return out;
}

/** The samples of rows [from, end) as PNG stores them: 8-bit as they are (no copy), 16-bit big-endian. */
function storedSamples(pixels: PngPixels, from: number, end: number): Buffer {
  const rowBytes = rowBytesOf(pixels);
  if (pixels.depth === 8) return bytesOf(pixels).subarray(from * rowBytes, end * rowBytes);
  const samples = Buffer.allocUnsafe((end - from) * rowBytes);
  const values = pixels.data as Uint16Array;
  for (let k = 0, v = from * (rowBytes / 2); k < samples.length; k += 2, v++) samples.writeUInt16BE(values[v]!, k);
  return samples;
}

const ADLER_BASE = 65521;

/** Adler-32 (RFC 1950 §8.2) of the bytes, sums reduced every 5552 bytes as zlib does. */
function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    const stop = Math.min(bytes.length, i + 5552);
    for (; i < stop; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= ADLER_BASE;
    b %= ADLER_BASE;
  }
  return ((b << 16) | a) >>> 0;
}

/** Adler-32 of two byte runs one after the other, from each run's checksum and the second's length (zlib's adler32_combine). */
function adler32Combine(first: number, second: number, secondLength: number): number {
  const rem = secondLength % ADLER_BASE;
  const a1 = first & 0xffff;
  const a = (a1 + (second & 0xffff) + ADLER_BASE - 1) % ADLER_BASE;
  const b = ((rem * a1) % ADLER_BASE + (first >>> 16) + (second >>> 16) + ADLER_BASE - rem) % ADLER_BASE;
  return ((b << 16) | a) >>> 0;
}

/**
 * The image's bands (LARGE_PNG_BAND_ROWS rows each), deflated in Node's zlib thread pool. With `reuse`, the
 * encoding of an image of the same size: a band whose rows, and the row above them (the Up filter reads it), are
 * byte for byte those of `reuse.pixels` takes its segment from there instead of deflating again.
 */
export async function encodePngBands(pixels: PngPixels, reuse?: PngBands): Promise<PngBands> {
  checkPixels(pixels);
  const { width, height, channels, depth } = pixels;
  const source = reuse?.pixels;
  const comparable = source !== undefined && source.width === width && source.height === height && source.channels === channels && source.depth === depth;
  const rowBytes = rowBytesOf(pixels);
  const mine = bytesOf(pixels);
  const theirs = comparable ? bytesOf(source) : null;
  const bands = Math.ceil(height / LARGE_PNG_BAND_ROWS);
  const segments = new Array<Buffer>(bands);
  const adlers = new Array<number>(bands);
  const pending: Promise<void>[] = [];
  for (let band = 0; band < bands; band++) {
    const first = band * LARGE_PNG_BAND_ROWS;
    const end = Math.min(height, first + LARGE_PNG_BAND_ROWS);
    const span = [Math.max(0, first - 1) * rowBytes, end * rowBytes] as const;
    if (theirs && mine.compare(theirs, span[0], span[1], span[0], span[1]) === 0) {
      segments[band] = reuse!.segments[band]!;
      adlers[band] = reuse!.adlers[band]!;
      continue;
    }
    const raw = filteredRows(pixels, first, end);
    adlers[band] = adler32(raw);
    pending.push(
      deflateRawAsync(raw, { level: LARGE_PNG_ZLIB_LEVEL, strategy: zlibConstants.Z_RLE, finishFlush: zlibConstants.Z_SYNC_FLUSH }).then((segment) => {
        segments[band] = segment;
      }),
    );
  }
  await Promise.all(pending);
  return { pixels, segments, adlers };
}

/**
 * The same PNG layout as encodePng (IHDR, the record's tEXt, IDAT, IEND; PNG spec 1.2 §3–4), every row Up-filtered,
 * with Node's zlib deflating band by band in its thread pool: for full-resolution camera frames, where fast-png's
 * JavaScript deflate takes hundreds of milliseconds and blocks the event loop meanwhile (BENCHMARKS.md, hazard
 * insertion). The zlib stream is the bands' segments one after the other, a final empty block and the Adler-32 of
 * all the filtered bytes (RFC 1950/1951). `reuse`: the bands of an image this one differs from in some rows
 * (encodePngBands); the bytes are the same with or without it. Deterministic: same pixels and record, same bytes.
 */
export async function encodeLargePng(pixels: PngPixels, record?: GenerationRecord, reuse?: PngBands): Promise<Uint8Array> {
  const bands = await encodePngBands(pixels, reuse);
  const rowBytes = rowBytesOf(pixels);
  let adler = 1; // of no bytes
  bands.adlers.forEach((band, k) => {
    const rows = Math.min(pixels.height, (k + 1) * LARGE_PNG_BAND_ROWS) - k * LARGE_PNG_BAND_ROWS;
    adler = adler32Combine(adler, band, rows * (rowBytes + 1));
  });
  const trailer = Buffer.alloc(6);
  trailer[0] = 0x03; // a final fixed-Huffman block holding only its end code (BFINAL 1, BTYPE 01, code 256 = 0000000)
  trailer.writeUInt32BE(adler, 2);
  const zlibStream = Buffer.concat([Buffer.from([0x78, 0x01]), ...bands.segments, trailer]); // CMF deflate 32K window, FLG check bits, no dictionary
  return assemblePng(pixels, zlibStream, record);
}

/** Signature, IHDR, the record's tEXt (when given), one IDAT holding the zlib stream, IEND (PNG spec 1.2 §3–4). */
function assemblePng(pixels: PngPixels, zlibStream: Buffer, record?: GenerationRecord): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
    return [head, data, crc];
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(pixels.width, 0);
  header.writeUInt32BE(pixels.height, 4);
  header.writeUInt8(pixels.depth, 8);
  header.writeUInt8(pixels.channels === 3 ? 2 : 0, 9); // colour type: truecolour or greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    ...chunk("IHDR", header),
    ...(record ? chunk("tEXt", Buffer.from(`${RECORD_KEYWORD}\0${asciiJson(record)}`, "latin1")) : []),
    ...chunk("IDAT", zlibStream),
    ...chunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * An uncompressed PNG (deflate's stored blocks, every row unfiltered) written by Node's zlib: for pictures handed
 * from one step to the next in memory and never stored, where compressing costs more than it saves (fast-png's
 * JavaScript writer took 6 ms for a 240×240 RGB window, this 0.2 ms). No record.
 */
export function encodeStoredPng(pixels: PngPixels): Uint8Array {
  checkPixels(pixels);
  const rowBytes = rowBytesOf(pixels);
  const raw = Buffer.alloc(pixels.height * (rowBytes + 1)); // filter type 0 (None) in every row's first byte
  const samples = storedSamples(pixels, 0, pixels.height);
  for (let y = 0; y < pixels.height; y++) samples.copy(raw, y * (rowBytes + 1) + 1, y * rowBytes, (y + 1) * rowBytes);
  return assemblePng(pixels, deflateSync(raw, { level: 0 }));
}

/** The generation record embedded by encodePng, or null when the PNG has none. Throws PngError if not a PNG. */
export function readPngRecord(bytes: Uint8Array): GenerationRecord | null {
  let text: Record<string, string>;
  try {
    text = decode(bytes).text;
  } catch (error) {
    throw new PngError(`not a readable PNG: ${(error as Error).message}`);
  }
  const raw = text[RECORD_KEYWORD];
  return raw === undefined ? null : (JSON.parse(raw) as GenerationRecord);
}

export interface ImageTensor {
  /** Planar [channels, height, width] float values in the model's value range. */
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export interface PixelMapping {
  readonly format: PngFormat;
  /** What the model's x0 space spans, e.g. [-1, 1]. */
  readonly valueRange: readonly [number, number];
  /** 16-bit only: valueRange maps linearly onto these stored values (default [0, 65535]). */
  readonly storedRange?: readonly [number, number];
}

/** Model-space image -> PNG pixels: linear map of valueRange onto 0..255 or storedRange, clamped, rounded. */
export function tensorToPixels(image: ImageTensor, mapping: PixelMapping): PngPixels {
  const { width, height } = image;
  const plane = width * height;
  const [lo, hi] = mapping.valueRange;
  if (mapping.format === "png-rgb8") {
    if (image.channels !== 3 && image.channels !== 1) throw new PngError(`png-rgb8 needs 1 or 3 channels, got ${image.channels}`);
    const data = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = image.data[(image.channels === 3 ? c : 0) * plane + p] ?? 0;
        data[p * 3 + c] = Math.min(255, Math.max(0, Math.round(((v - lo) / (hi - lo)) * 255)));
      }
    }
    return { width, height, channels: 3, depth: 8, data };
  }
  if (mapping.format === "png-gray16") {
    if (image.channels !== 1) throw new PngError(`png-gray16 needs 1 channel, got ${image.channels}`);
    const [slo, shi] = mapping.storedRange ?? [0, 65535];
    const data = new Uint16Array(plane);
    for (let p = 0; p < plane; p++) {
      const v = image.data[p] ?? 0;
      data[p] = Math.min(shi, Math.max(slo, Math.round(slo + ((v - lo) / (hi - lo)) * (shi - slo))));
    }
    return { width, height, channels: 1, depth: 16, data };
  }
  const never: never = mapping.format;
  throw new PngError(`unknown PNG format "${String(never)}"; allowed: ${PNG_FORMATS.join(", ")}`);
}
