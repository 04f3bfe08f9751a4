/**
 * Window centre and width for a linear VOI LUT (PS3.3 C.11.2.1.2.1): values at or below
 * c − 0.5 − (w − 1)/2 show black, at or above c − 0.5 + (w − 1)/2 white. These helpers choose a window
 * that spans a range of stored values exactly.
 */
export interface VoiWindow {
  windowCenter: number;
  windowWidth: number;
}

/** The window whose black point is `lowest` and white point `highest` (inclusive). */
export function windowForRange(lowest: number, highest: number): VoiWindow {
  if (!Number.isFinite(lowest) || !Number.isFinite(highest) || highest < lowest) {
    throw new RangeError(`A window needs finite lowest <= highest, got ${lowest}..${highest}`);
  }
  const windowWidth = Math.max(1, highest - lowest + 1);
  // From lowest = c − 0.5 − (w − 1)/2: c = lowest + w/2.
  return { windowCenter: lowest + windowWidth / 2, windowWidth };
}

/**
 * A window from the image itself, between two percentiles of its values (0.5 and 99.5 by default), so a
 * few extreme pixels do not wash out the rest.
 */
export function windowFromPixels(pixels: ArrayLike<number>, lowerPercentile = 0.5, upperPercentile = 99.5): VoiWindow {
  if (pixels.length === 0) throw new RangeError("A window needs at least one pixel");
  if (!(lowerPercentile >= 0 && upperPercentile <= 100 && lowerPercentile <= upperPercentile)) {
    throw new RangeError(`Percentiles must satisfy 0 <= lower <= upper <= 100, got ${lowerPercentile} and ${upperPercentile}`);
  }
  const sorted = Float64Array.from(pixels).sort();
  const at = (percentile: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((percentile / 100) * (sorted.length - 1))))] ?? 0;
  return windowForRange(at(lowerPercentile), at(upperPercentile));
}
