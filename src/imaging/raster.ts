// Raster operations on decoded pictures: bilinear resize, channel conversion onto a model's value range,
// stored-range normalisation of 16-bit references, and masks on a sample grid. Plain functions.
import type { DecodedImage } from "./decode.ts";

export function resizeBilinear(image: DecodedImage, width: number, height: number): DecodedImage {
  if (image.width === width && image.height === height) return image;
  const src = image.data;
  const srcPlane = image.width * image.height;
  const out = new Float32Array(width * height * image.channels);
  const sx = image.width / width;
  const sy = image.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), image.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, image.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), image.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, image.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < image.channels; c++) {
        const base = c * srcPlane;
        const top = (src[base + y0 * image.width + x0] ?? 0) * (1 - wx) + (src[base + y0 * image.width + x1] ?? 0) * wx;
        const bottom = (src[base + y1 * image.width + x0] ?? 0) * (1 - wx) + (src[base + y1 * image.width + x1] ?? 0) * wx;
        out[c * width * height + y * width + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return { width, height, channels: image.channels, data: out };
}

/**
 * A 16-bit reference of a model with a stored range (e.g. MR values 0..4095 in a 16-bit PNG, as this runtime
 * writes them) is read in stored units: 0..1 then means storedRange, not 0..65535. 8-bit images are unchanged.
 */
export function normaliseStoredRange(image: DecodedImage, storedRange: readonly [number, number] | undefined): DecodedImage {
  if (!storedRange || image.bitDepth !== 16) return image;
  const [lo, hi] = storedRange;
  const data = image.data.map((v) => Math.min(1, Math.max(0, (v * 65535 - lo) / (hi - lo))));
  return { ...image, data };
}

/** 0..1 image -> model space: channel conversion (RGB <-> gray) and linear map onto valueRange. */
export function toModelSpace(image: DecodedImage, channels: number, valueRange: readonly [number, number]): Float32Array {
  const plane = image.width * image.height;
  const [lo, hi] = valueRange;
  const out = new Float32Array(plane * channels);
  for (let p = 0; p < plane; p++) {
    // ITU-R BT.601 luma for RGB -> gray
    const gray =
      image.channels === 1
        ? (image.data[p] ?? 0)
        : 0.299 * (image.data[p] ?? 0) + 0.587 * (image.data[plane + p] ?? 0) + 0.114 * (image.data[2 * plane + p] ?? 0);
    for (let c = 0; c < channels; c++) {
      const v = channels === 1 ? gray : image.channels === 1 ? gray : (image.data[c * plane + p] ?? 0);
      out[c * plane + p] = lo + v * (hi - lo);
    }
  }
  return out;
}

/** An inpainting mask (white = regenerate) at the given size: 1 inside, 0 outside (threshold 0.5 after resize). */
export function maskToSampleGrid(mask: DecodedImage, width: number, height: number): Float32Array {
  const gray: DecodedImage = mask.channels === 1 ? mask : { ...mask, channels: 1, data: toModelSpace(mask, 1, [0, 1]) };
  const resized = resizeBilinear(gray, width, height);
  return resized.data.map((v) => (v >= 0.5 ? 1 : 0));
}
