// Decoding pictures: PNG (8/16-bit, grey, RGB, palette) and JPEG bytes -> planar float 0..1, and the same
// from pixels already in memory (a generated sample is scored from its pixels, not by decoding its PNG).
import { convertIndexedToRgb, decode as decodePng, hasPngSignature } from "fast-png";
import jpeg from "jpeg-js";
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

/** Decodes PNG or JPEG bytes; anything else, or a damaged file, is an ImageDecodeError naming `what`. */
export function decodeImage(bytes: Uint8Array, what = "reference image"): DecodedImage {
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
      image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100, maxMemoryUsageInMB: 512 });
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

/** Bilinear resize (pixel centres aligned, edges clamped), per channel. */

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
