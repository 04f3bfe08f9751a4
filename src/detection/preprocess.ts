// Detector input: letterbox an image into the detector's square (or rectangular) input the way Ultralytics'
// LetterBox does (ultralytics/data/augment.py): scale to fit keeping the aspect ratio, bilinear resize, centre
// it, pad with grey 114/255. The geometry is kept so boxes can be mapped back to the original image.
import { resizeBilinear, toModelSpace, type DecodedImage } from "../imaging/index.ts";

export interface LetterboxGeometry {
  /** Input pixels per image pixel. */
  readonly scale: number;
  /** Padding added on the left and top, in input pixels. */
  readonly padLeft: number;
  readonly padTop: number;
  readonly imageWidth: number;
  readonly imageHeight: number;
}

export interface LetterboxedInput {
  /** NCHW float32 [1, channels, height, width] mapped onto valueRange. */
  readonly tensor: Float32Array;
  readonly geometry: LetterboxGeometry;
}

export interface LetterboxOptions {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** Pad value in 0..1 image units (Ultralytics: 114/255). */
  readonly padValue: number;
  readonly valueRange: readonly [number, number];
  /** false: stretch to the input size instead (for models trained without letterboxing). */
  readonly letterbox: boolean;
}

export const ULTRALYTICS_PAD_VALUE = 114 / 255;

export function letterbox(image: DecodedImage, options: LetterboxOptions): LetterboxedInput {
  const { width, height, channels } = options;
  if (!options.letterbox) {
    const resized = resizeBilinear(image, width, height);
    return {
      tensor: toModelSpace(resized, channels, options.valueRange),
      geometry: { scale: width / image.width, padLeft: 0, padTop: 0, imageWidth: image.width, imageHeight: image.height },
    };
  }
  // Ultralytics: r = min(new/old); unpadded size rounded; padding split in two with round(d ± 0.1)
  const scale = Math.min(width / image.width, height / image.height);
  const innerWidth = Math.round(image.width * scale);
  const innerHeight = Math.round(image.height * scale);
  // Math.max(0, …) also turns round(-0.1) = -0 into 0
  const padLeft = Math.max(0, Math.round((width - innerWidth) / 2 - 0.1));
  const padTop = Math.max(0, Math.round((height - innerHeight) / 2 - 0.1));
  const inner = toModelSpace(resizeBilinear(image, innerWidth, innerHeight), channels, options.valueRange);
  const [lo, hi] = options.valueRange;
  const pad = lo + options.padValue * (hi - lo);
  const tensor = new Float32Array(channels * width * height).fill(pad);
  const innerPlane = innerWidth * innerHeight;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < innerHeight; y++) {
      const from = c * innerPlane + y * innerWidth;
      tensor.set(inner.subarray(from, from + innerWidth), c * width * height + (y + padTop) * width + padLeft);
    }
  }
  return { tensor, geometry: { scale, padLeft, padTop, imageWidth: image.width, imageHeight: image.height } };
}
