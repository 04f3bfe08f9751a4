// Detector output, per layout: decode the head's candidates, keep those whose best class score reaches the
// threshold, class-wise NMS, then undo the letterbox so boxes are in the original image's pixels (clipped
// to it).
// - Ultralytics YOLOv8/11 [1, 4+C, N]: cx, cy, w, h in input pixels, then C class scores; no objectness.
// - YOLOX [1, N, 5+C] (yolox/models/yolo_head.py, exported with decode_in_inference=False): per grid point
//   of strides 8, 16, 32, raw dx, dy, log w, log h, then objectness and C class scores (already sigmoided);
//   the box is decoded as YOLOX's demo_postprocess does and the score is objectness × class score.
import { nonMaxSuppression, type Detection } from "./boxes.ts";
import type { LetterboxGeometry } from "./preprocess.ts";

export interface DecodeOptions {
  readonly scoreThreshold: number;
  readonly iouThreshold: number;
  readonly maxDetections?: number;
}

/** YOLOX's output strides, finest first (the order of the candidates in the output). */
export const YOLOX_STRIDES = [8, 16, 32] as const;

/** dims = [1, 4 + classes.length, N]; data row-major. */
export function decodeYoloOutput(
  data: Float32Array,
  dims: readonly number[],
  classes: readonly string[],
  geometry: LetterboxGeometry,
  options: DecodeOptions,
): Detection[] {
  const rows = dims[1] ?? 0;
  const candidates = dims[2] ?? 0;
  const classCount = rows - 4;
  const at = (row: number, n: number) => data[row * candidates + n] as number;
  const found: Detection[] = [];
  for (let n = 0; n < candidates; n++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < classCount; c++) {
      const score = at(4 + c, n);
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    if (!(bestScore >= options.scoreThreshold)) continue;
    found.push(detectionInImage(at(0, n), at(1, n), at(2, n), at(3, n), best, bestScore, classes, geometry));
  }
  return nonMaxSuppression(found, options.iouThreshold, options.maxDetections ?? 300);
}

/** The number of YOLOX grid points for an input size: Σ over strides of (H/s)·(W/s). */
export function yoloxCandidateCount(inputWidth: number, inputHeight: number): number {
  return YOLOX_STRIDES.reduce((sum, s) => sum + Math.floor(inputHeight / s) * Math.floor(inputWidth / s), 0);
}

/** dims = [1, N, 5 + classes.length] with N = yoloxCandidateCount(input); data row-major. */
export function decodeYoloxOutput(
  data: Float32Array,
  dims: readonly number[],
  classes: readonly string[],
  geometry: LetterboxGeometry,
  options: DecodeOptions,
  input: { readonly width: number; readonly height: number },
): Detection[] {
  const columns = dims[2] ?? 0;
  const classCount = columns - 5;
  const found: Detection[] = [];
  let n = 0;
  for (const stride of YOLOX_STRIDES) {
    const gridWidth = Math.floor(input.width / stride);
    const gridHeight = Math.floor(input.height / stride);
    // candidates run row by row over each stride's grid (meshgrid(arange(w), arange(h)) flattened)
    for (let row = 0; row < gridHeight; row++) {
      for (let col = 0; col < gridWidth; col++, n++) {
        const base = n * columns;
        const objectness = data[base + 4] as number;
        // score = objectness × class score ≤ objectness: most grid points stop here
        if (!(objectness >= options.scoreThreshold)) continue;
        let best = 0;
        let bestScore = -Infinity;
        for (let c = 0; c < classCount; c++) {
          const score = data[base + 5 + c] as number;
          if (score > bestScore) {
            bestScore = score;
            best = c;
          }
        }
        const score = objectness * bestScore;
        if (!(score >= options.scoreThreshold)) continue;
        // demo_postprocess: xy = (raw + grid) · stride, wh = exp(raw) · stride, in input pixels
        const cx = ((data[base] as number) + col) * stride;
        const cy = ((data[base + 1] as number) + row) * stride;
        const w = Math.exp(data[base + 2] as number) * stride;
        const h = Math.exp(data[base + 3] as number) * stride;
        found.push(detectionInImage(cx, cy, w, h, best, score, classes, geometry));
      }
    }
  }
  return nonMaxSuppression(found, options.iouThreshold, options.maxDetections ?? 300);
}

/** A centre-size box in input pixels -> a detection in the original image's pixels, clipped to it. */
function detectionInImage(cx: number, cy: number, w: number, h: number, classIndex: number, score: number, classes: readonly string[], geometry: LetterboxGeometry): Detection {
  const { scale, padLeft, padTop, imageWidth, imageHeight } = geometry;
  const x1 = clamp((cx - w / 2 - padLeft) / scale, 0, imageWidth);
  const y1 = clamp((cy - h / 2 - padTop) / scale, 0, imageHeight);
  const x2 = clamp((cx + w / 2 - padLeft) / scale, 0, imageWidth);
  const y2 = clamp((cy + h / 2 - padTop) / scale, 0, imageHeight);
  return { class: classes[classIndex] ?? String(classIndex), classIndex, score, box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 } };
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}
