// Boxes in image pixels (top-left x, y, width, height — the same convention as GroundTruthBox), their
// intersection over union, and class-wise non-maximum suppression.

export interface PixelBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One object the detector reports, in the detector's own vocabulary. */
export interface Detection {
  /** Detector class name (e.g. "person" for a COCO model, "pedestrian" for road-detector). */
  readonly class: string;
  /** Row of the class in the detector's score block. */
  readonly classIndex: number;
  /** Class score in 0..1. */
  readonly score: number;
  readonly box: PixelBox;
}

export function boxArea(box: PixelBox): number {
  return Math.max(0, box.width) * Math.max(0, box.height);
}

/** Intersection over union; 0 for disjoint or degenerate boxes. */
export function iou(a: PixelBox, b: PixelBox): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const intersection = ix * iy;
  const union = boxArea(a) + boxArea(b) - intersection;
  return union > 0 ? intersection / union : 0;
}

/** A box given as centre and size fractions of an image (the condition's units) -> pixels. */
export function fractionToPixelBox(fraction: { cx: number; cy: number; w: number; h: number }, imageWidth: number, imageHeight: number): PixelBox {
  return {
    x: (fraction.cx - fraction.w / 2) * imageWidth,
    y: (fraction.cy - fraction.h / 2) * imageHeight,
    width: fraction.w * imageWidth,
    height: fraction.h * imageHeight,
  };
}

/**
 * Greedy NMS per class (as Ultralytics' non_max_suppression with agnostic=False): within each class keep the
 * highest score and drop later boxes overlapping a kept one by more than iouThreshold. Result sorted by
 * score, at most maxDetections.
 */
export function nonMaxSuppression(detections: readonly Detection[], iouThreshold: number, maxDetections = 300): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of sorted) {
    if (kept.length >= maxDetections) break;
    const suppressed = kept.some((k) => k.classIndex === candidate.classIndex && iou(k.box, candidate.box) > iouThreshold);
    if (!suppressed) kept.push(candidate);
  }
  return kept;
}
