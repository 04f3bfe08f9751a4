// PNG output with the generation record in a tEXt chunk (fast-png writes and reads tEXt; the record is JSON
// with every non-ASCII character escaped, so it is valid Latin-1), and model-space tensors -> pixels.
import { promisify } from "node:util";
import { constants as zlibConstants, crc32, deflate } from "node:zlib";
import { decode, encode } from "fast-png";
import type { GenerationRecord } from "../provenance/index.ts";

const deflateAsync = promisify(deflate);

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
 * The same PNG layout as encodePng (IHDR, the record's tEXt, IDAT, IEND; PNG spec 1.2 §3–4), every row Up-filtered
 * (filter type 2: each byte minus the byte above it, §6.3; neighbouring rows of a photo are alike), with
 * Node's zlib deflating in its thread pool: for full-resolution camera frames, where fast-png's JavaScript deflate
 * takes hundreds of milliseconds and blocks the event loop meanwhile (BENCHMARKS.md, hazard insertion).
 * Deterministic: same pixels and record, same bytes.
 */
export async function encodeLargePng(pixels: PngPixels, record?: GenerationRecord): Promise<Uint8Array> {
  const { width, height, channels, depth } = pixels;
  if (pixels.data.length !== width * height * channels) throw new PngError(`pixel buffer has ${pixels.data.length} values, ${width}x${height}x${channels} needs ${width * height * channels}`);
  if ((depth === 16) !== pixels.data instanceof Uint16Array) throw new PngError(`depth ${depth} does not match the buffer type`);
  const rowBytes = (width * channels * depth) / 8;
  const raw = Buffer.alloc(height * (rowBytes + 1));
  const samples = Buffer.from(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength);
  for (let y = 0; y < height; y++) {
    const row = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    if (depth === 8) samples.copy(row, 0, y * rowBytes, (y + 1) * rowBytes);
    else for (let k = 0; k < rowBytes / 2; k++) row.writeUInt16BE((pixels.data as Uint16Array)[y * (rowBytes / 2) + k]!, 2 * k); // PNG samples are big-endian
  }
  // Up filter in place, bottom row first, so that each row still reads its unfiltered neighbour above
  for (let y = height - 1; y >= 1; y--) {
    const row = y * (rowBytes + 1);
    const above = row - (rowBytes + 1);
    raw[row] = 2;
    for (let k = 1; k <= rowBytes; k++) raw[row + k] = (raw[row + k]! - raw[above + k]!) & 0xff;
  }
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
    return [head, data, crc];
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(depth, 8);
  header.writeUInt8(channels === 3 ? 2 : 0, 9); // colour type: truecolour or greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    ...chunk("IHDR", header),
    ...(record ? chunk("tEXt", Buffer.from(`${RECORD_KEYWORD}\0${asciiJson(record)}`, "latin1")) : []),
    ...chunk("IDAT", await deflateAsync(raw, { level: LARGE_PNG_ZLIB_LEVEL, strategy: zlibConstants.Z_RLE })),
    ...chunk("IEND", Buffer.alloc(0)),
  ]);
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
