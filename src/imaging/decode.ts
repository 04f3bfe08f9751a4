// Decoding pictures: PNG (8/16-bit, grey, RGB, palette) and JPEG bytes -> planar float 0..1, and the same
// from pixels already in memory (a generated sample is scored from its pixels, not by decoding its PNG).
import { convertIndexedToRgb, decode as decodePng, hasPngSignature } from "fast-png";
import jpeg from "jpeg-js";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../config.ts";
import type { PngPixels } from "./png.ts";

/** Bytes that are not a PNG or JPEG picture, or a damaged one. */
export class ImageDecodeError extends Error {
  override readonly name = "ImageDecodeError";
}

/** A decoded picture: planar float [channels][height][width] in 0..1. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly data: Float32Array;
  /** Bits per sample of the source (8 for JPEG). */
  readonly bitDepth?: number;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** What a picture's header declares, read without decoding any pixel. */
export interface ImageHeader {
  readonly format: "PNG" | "JPEG";
  readonly width: number;
  readonly height: number;
}

/** Bit depths each PNG colour type allows (PNG spec, 11.2.2 IHDR). */
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

function pngHeader(bytes: Uint8Array, what: string): ImageHeader {
  // signature (8), then the first chunk must be IHDR: length 13, type, width, height, bit depth, colour type …
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 33 || view.getUint32(8) !== 13 || String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") {
    throw new ImageDecodeError(`${what} is a damaged PNG: no IHDR chunk after the signature`);
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const bitDepth = bytes[24]!;
  const colourType = bytes[25]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) throw new ImageDecodeError(`${what} is a damaged PNG: IHDR declares ${width}x${height}`);
  if (!PNG_BIT_DEPTHS[colourType]?.includes(bitDepth)) throw new ImageDecodeError(`${what} is a damaged PNG: IHDR declares colour type ${colourType} with bit depth ${bitDepth}`);
  return { format: "PNG", width, height };
}

/** Start-of-frame markers SOF0..SOF15 (ITU T.81 B.1.1.3), without DHT (C4), JPG (C8) and DAC (CC). */
const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function jpegHeader(bytes: Uint8Array, what: string): ImageHeader {
  // Segments from SOI to the first SOFn: marker, 16-bit length, payload (SOFn: precision, height, width, …).
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new ImageDecodeError(`${what} is a damaged JPEG: no marker at byte ${offset}`);
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      offset += 2; // TEM, RSTn, SOI: no length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // scan data or the end before any frame header
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    if (isStartOfFrame(marker)) {
      if (length < 8 || offset + 9 > bytes.length) break;
      const height = (bytes[offset + 5]! << 8) | bytes[offset + 6]!;
      const width = (bytes[offset + 7]! << 8) | bytes[offset + 8]!;
      if (width === 0 || height === 0) throw new ImageDecodeError(`${what} is a damaged JPEG: its frame header declares ${width}x${height}`);
      return { format: "JPEG", width, height };
    }
    if (length < 2) break;
    offset += 2 + length;
  }
  throw new ImageDecodeError(`${what} is a damaged JPEG: no frame header (SOFn marker) before the image data`);
}

/**
 * Width and height as the PNG's IHDR or the JPEG's SOFn marker declares them, without decoding; an
 * ImageDecodeError for anything else or a damaged header.
 */
export function readImageHeader(bytes: Uint8Array, what = "reference image"): ImageHeader {
  if (hasPngSignature(bytes)) return pngHeader(bytes, what);
  if (isJpeg(bytes)) return jpegHeader(bytes, what);
  throw new ImageDecodeError(`${what} is not a PNG or JPEG image (unrecognised signature)`);
}

/**
 * The header, refused (ImageDecodeError) when width × height exceeds maxPixels: decoding such a file would
 * hold the event loop and allocate its full raster before anything could look at it.
 */
export function checkImageHeader(bytes: Uint8Array, what = "reference image", maxPixels = DEFAULT_MAX_IMAGE_PIXELS): ImageHeader {
  const header = readImageHeader(bytes, what);
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new ImageDecodeError(`${what} is ${header.width}x${header.height} (${pixels} pixels); the limit is ${maxPixels} pixels (RAREFORGE_MAX_IMAGE_PIXELS)`);
  }
  return header;
}

/**
 * Decodes PNG or JPEG bytes; anything else, a damaged file, or one whose header declares more than
 * maxPixels pixels (checked before decoding) is an ImageDecodeError naming `what`.
 */
export function decodeImage(bytes: Uint8Array, what = "reference image", maxPixels = DEFAULT_MAX_IMAGE_PIXELS): DecodedImage {
  checkImageHeader(bytes, what, maxPixels);
  if (hasPngSignature(bytes)) {
    let png: ReturnType<typeof decodePng>;
    try {
      png = decodePng(bytes);
    } catch (error) {
      throw new ImageDecodeError(`${what} is a damaged PNG: ${(error as Error).message}`);
    }
    let data = png.data;
    let channels = png.channels;
    let depth = png.depth;
    if (png.palette) {
      data = convertIndexedToRgb(png);
      channels = png.transparency ? 4 : 3;
      depth = 8;
    }
    const max = depth === 16 ? 65535 : (1 << depth) - 1;
    const color = channels >= 3;
    const outChannels = color ? 3 : 1;
    const plane = png.width * png.height;
    const out = new Float32Array(plane * outChannels);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < outChannels; c++) out[c * plane + p] = (data[p * channels + c] ?? 0) / max;
    }
    return { width: png.width, height: png.height, channels: outChannels, data: out, bitDepth: depth };
  }
  if (isJpeg(bytes)) {
    let image: { width: number; height: number; data: Uint8Array };
    try {
      image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: Math.ceil(maxPixels / 1e6), maxMemoryUsageInMB: 512 });
    } catch (error) {
      throw new ImageDecodeError(`${what} is a damaged JPEG: ${(error as Error).message}`);
    }
    const plane = image.width * image.height;
    const out = new Float32Array(plane * 3);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (image.data[p * 4 + c] ?? 0) / 255;
    return { width: image.width, height: image.height, channels: 3, data: out, bitDepth: 8 };
  }
  throw new ImageDecodeError(`${what} is not a PNG or JPEG image (unrecognised signature)`);
}

/**
 * The picture decodeImage would return for a PNG of these pixels, without encoding and decoding it:
 * pixels are the quantised values the PNG stores, so scores from either are identical.
 */
export function imageFromPixels(pixels: PngPixels): DecodedImage {
  const max = pixels.depth === 16 ? 65535 : 255;
  const plane = pixels.width * pixels.height;
  const out = new Float32Array(plane * pixels.channels);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < pixels.channels; c++) out[c * plane + p] = (pixels.data[p * pixels.channels + c] ?? 0) / max;
  }
  return { width: pixels.width, height: pixels.height, channels: pixels.channels, data: out, bitDepth: pixels.depth };
}
