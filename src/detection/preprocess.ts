// Detector input: letterbox an image into the detector's square (or rectangular) input, scaled to fit keeping
// the aspect ratio (bilinear) and padded with grey, in one of two placements: centred the way Ultralytics'
// LetterBox does (ultralytics/data/augment.py), or in the top-left corner the way YOLOX's preproc does
// (yolox/data/data_augment.py). Channels in RGB or BGR order. The geometry is kept so boxes can be mapped
// back to the original image.
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
  /** Channel order of a 3-channel tensor (default "rgb"; YOLOX, trained on OpenCV images: "bgr"). */
  readonly channelOrder?: ChannelOrder;
  /** Where the scaled image sits (default "centre"; YOLOX: "top-left", padding right and bottom only). */
  readonly placement?: LetterboxPlacement;
}

export type ChannelOrder = "rgb" | "bgr";
export type LetterboxPlacement = "centre" | "top-left";

export const ULTRALYTICS_PAD_VALUE = 114 / 255;

export function letterbox(image: DecodedImage, options: LetterboxOptions): LetterboxedInput {
  const { width, height, channels } = options;
  const bgr = options.channelOrder === "bgr" && channels === 3;
  if (!options.letterbox) {
    const resized = resizeBilinear(image, width, height);
    const tensor = toModelSpace(resized, channels, options.valueRange);
    return {
      tensor: bgr ? swapRedBlue(tensor, width * height) : tensor,
      geometry: { scale: width / image.width, padLeft: 0, padTop: 0, imageWidth: image.width, imageHeight: image.height },
    };
  }
  const scale = Math.min(width / image.width, height / image.height);
  let innerWidth: number, innerHeight: number, padLeft: number, padTop: number;
  if (options.placement === "top-left") {
    // YOLOX preproc: r = min(new/old); cv2.resize to (int(w·r), int(h·r)) into padded_img[:h', :w']
    innerWidth = Math.min(width, Math.max(1, Math.floor(image.width * scale)));
    innerHeight = Math.min(height, Math.max(1, Math.floor(image.height * scale)));
    padLeft = 0;
    padTop = 0;
  } else {
    // Ultralytics: r = min(new/old); unpadded size rounded; padding split in two with round(d ± 0.1)
    innerWidth = Math.round(image.width * scale);
    innerHeight = Math.round(image.height * scale);
    // Math.max(0, …) also turns round(-0.1) = -0 into 0
    padLeft = Math.max(0, Math.round((width - innerWidth) / 2 - 0.1));
    padTop = Math.max(0, Math.round((height - innerHeight) / 2 - 0.1));
  }
  const modelSpace = toModelSpace(resizeBilinear(image, innerWidth, innerHeight), channels, options.valueRange);
  const inner = bgr ? swapRedBlue(modelSpace, innerWidth * innerHeight) : modelSpace;
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

/** RGB planes -> BGR planes (in place; the tensor is ours). */
function swapRedBlue(tensor: Float32Array, plane: number): Float32Array {
  const red = tensor.slice(0, plane);
  tensor.copyWithin(0, 2 * plane, 3 * plane);
  tensor.set(red, 2 * plane);
  return tensor;
}
