// Detector output: decode the Ultralytics YOLOv8/11 head [1, 4+C, N] (cx, cy, w, h in input pixels, then C
// class scores; no objectness), keep candidates whose best class score reaches the threshold, class-wise
// NMS, then undo the letterbox so boxes are in the original image's pixels (clipped to it).
import { nonMaxSuppression, type Detection } from "./boxes.ts";
import type { LetterboxGeometry } from "./preprocess.ts";

export interface DecodeOptions {
  readonly scoreThreshold: number;
  readonly iouThreshold: number;
  readonly maxDetections?: number;
}

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
    const cx = at(0, n);
    const cy = at(1, n);
    const w = at(2, n);
    const h = at(3, n);
    const { scale, padLeft, padTop, imageWidth, imageHeight } = geometry;
    const x1 = clamp((cx - w / 2 - padLeft) / scale, 0, imageWidth);
    const y1 = clamp((cy - h / 2 - padTop) / scale, 0, imageHeight);
    const x2 = clamp((cx + w / 2 - padLeft) / scale, 0, imageWidth);
    const y2 = clamp((cy + h / 2 - padTop) / scale, 0, imageHeight);
    found.push({ class: classes[best] ?? String(best), classIndex: best, score: bestScore, box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 } });
  }
  return nonMaxSuppression(found, options.iouThreshold, options.maxDetections ?? 300);
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}
