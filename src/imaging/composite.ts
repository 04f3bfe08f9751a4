// Putting an inpainted region back into a full-resolution scan. The model works on its own small grid; the
// scan keeps its resolution. Only a region and a narrow feathered band around it take generated values:
// every pixel farther away is the source pixel, bit for bit.

/** A region of a scan in pixel units: a box, or a binary mask (1 inside) of the scan's size. */
export type ScanRegion =
  | { kind: "box"; x: number; y: number; width: number; height: number }
  | { kind: "mask"; mask: Uint8Array };

export class RegionError extends Error {
  override name = "RegionError";
}

/** The region as a binary mask of the scan (1 inside), after checking it lies inside the scan and is not empty. */
export function regionMask(region: ScanRegion, rows: number, columns: number): Uint8Array {
  if (region.kind === "box") {
    const { x, y, width, height } = region;
    for (const [name, value] of [["x", x], ["y", y], ["width", width], ["height", height]] as const) {
      if (!Number.isInteger(value)) throw new RegionError(`region box ${name} must be a whole number of pixels, got ${value}`);
    }
    if (width < 1 || height < 1) throw new RegionError(`region box must be at least 1x1 pixels, got ${width}x${height}`);
    if (x < 0 || y < 0 || x + width > columns || y + height > rows) {
      throw new RegionError(`region box x=${x} y=${y} ${width}x${height} does not fit the ${columns}x${rows} scan`);
    }
    const mask = new Uint8Array(rows * columns);
    for (let r = y; r < y + height; r++) mask.fill(1, r * columns + x, r * columns + x + width);
    return mask;
  }
  if (region.mask.length !== rows * columns) throw new RegionError(`region mask has ${region.mask.length} pixels; the scan has ${rows}x${columns}`);
  const mask = region.mask.map((v) => (v ? 1 : 0));
  if (!mask.some((v) => v === 1)) throw new RegionError("region mask is empty: mark the pixels to regenerate");
  return mask;
}

/** Bounding box of a mask (xMax, yMax exclusive); the mask must not be empty. */
export function maskBounds(mask: Uint8Array, rows: number, columns: number): { xMin: number; yMin: number; xMax: number; yMax: number } {
  let xMin = columns;
  let yMin = rows;
  let xMax = -1;
  let yMax = -1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      if (!mask[r * columns + c]) continue;
      if (c < xMin) xMin = c;
      if (c > xMax) xMax = c;
      if (r < yMin) yMin = r;
      if (r > yMax) yMax = r;
    }
  }
  if (xMax < 0) throw new RegionError("region is empty");
  return { xMin, yMin, xMax: xMax + 1, yMax: yMax + 1 };
}

/**
 * Chessboard distance (pixels) from every pixel to the nearest region pixel, capped at `limit + 1`: a
 * breadth-first search from the region over the 8-neighbourhood.
 */
export function distanceToRegion(mask: Uint8Array, rows: number, columns: number, limit: number): Uint16Array {
  const far = limit + 1;
  const distance = new Uint16Array(rows * columns).fill(far);
  let frontier: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      distance[i] = 0;
      frontier.push(i);
    }
  }
  for (let d = 1; d <= limit && frontier.length > 0; d++) {
    const next: number[] = [];
    for (const i of frontier) {
      const r = Math.floor(i / columns);
      const c = i - r * columns;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || cc < 0 || rr >= rows || cc >= columns) continue;
          const j = rr * columns + cc;
          if ((distance[j] ?? 0) > d) {
            distance[j] = d;
            next.push(j);
          }
        }
      }
    }
    frontier = next;
  }
  return distance;
}

/**
 * Blend weights of the generated image: 1 inside the region, falling linearly over `feather` pixels
 * outside it (1 - d / (feather + 1)), 0 beyond. Pixels with weight 0 keep the source value exactly.
 */
export function featherWeights(mask: Uint8Array, rows: number, columns: number, feather: number): Float32Array {
  if (!Number.isInteger(feather) || feather < 0 || feather > 64) throw new RegionError(`feather must be a whole number of pixels in 0..64, got ${feather}`);
  const distance = distanceToRegion(mask, rows, columns, feather);
  const weights = new Float32Array(rows * columns);
  for (let i = 0; i < weights.length; i++) {
    const d = distance[i] ?? feather + 1;
    weights[i] = d > feather ? 0 : 1 - d / (feather + 1);
  }
  return weights;
}

/** A rectangle of an image, in pixels: x = first column, y = first row. */
export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The model-grid mask for inpainting: a grid cell is regenerated when any scan pixel it covers has a
 * non-zero weight, so the generated image is valid wherever the composite uses it. `part`: the weights cover only
 * this rectangle of the rows × columns scan (every weight outside it is 0).
 */
export function gridMask(weights: Float32Array, rows: number, columns: number, gridWidth: number, gridHeight: number, part: PixelRect = { x: 0, y: 0, width: columns, height: rows }): Uint8Array {
  const grid = new Uint8Array(gridWidth * gridHeight);
  for (let pr = 0; pr < part.height; pr++) {
    const r = part.y + pr;
    // Cells a pixel overlaps (a pixel may straddle two cells when the scan is not a multiple of the grid).
    const gy0 = Math.floor((r * gridHeight) / rows);
    const gy1 = Math.min(gridHeight - 1, Math.floor(((r + 1) * gridHeight - 1) / rows));
    for (let pc = 0; pc < part.width; pc++) {
      if (!(weights[pr * part.width + pc]! > 0)) continue;
      const c = part.x + pc;
      const gx0 = Math.floor((c * gridWidth) / columns);
      const gx1 = Math.min(gridWidth - 1, Math.floor(((c + 1) * gridWidth - 1) / columns));
      // One more cell around: bilinear upsampling reads the neighbouring cell too.
      for (let gy = Math.max(0, gy0 - 1); gy <= Math.min(gridHeight - 1, gy1 + 1); gy++) {
        for (let gx = Math.max(0, gx0 - 1); gx <= Math.min(gridWidth - 1, gx1 + 1); gx++) grid[gy * gridWidth + gx] = 1;
      }
    }
  }
  return grid;
}

/**
 * Bilinear upsampling of one plane (pixel centres aligned, edges clamped). `part`: only this rectangle of the
 * toWidth × toHeight result (the same values the whole would hold there).
 */
export function resizePlane(plane: Float32Array, width: number, height: number, toWidth: number, toHeight: number, part: PixelRect = { x: 0, y: 0, width: toWidth, height: toHeight }): Float32Array {
  const out = new Float32Array(part.width * part.height);
  const sx = width / toWidth;
  const sy = height / toHeight;
  for (let py = 0; py < part.height; py++) {
    const y = part.y + py;
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let px = 0; px < part.width; px++) {
      const x = part.x + px;
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      const top = plane[y0 * width + x0]! * (1 - wx) + plane[y0 * width + x1]! * wx;
      const bottom = plane[y1 * width + x0]! * (1 - wx) + plane[y1 * width + x1]! * wx;
      out[py * part.width + px] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/**
 * source × (1 − w) + generated × w, rounded and clamped to [lo, hi]; where w is 0 the source value is
 * copied unchanged (no arithmetic), so those pixels are exactly the source's.
 */
export function compositeInto(source: ArrayLike<number>, generated: Float32Array, weights: Float32Array, lo: number, hi: number): Uint16Array {
  const out = new Uint16Array(source.length);
  for (let i = 0; i < out.length; i++) {
    const w = weights[i] ?? 0;
    const s = source[i] ?? 0;
    out[i] = w === 0 ? s : Math.min(hi, Math.max(lo, Math.round(s * (1 - w) + (generated[i] ?? 0) * w)));
  }
  return out;
}

/**
 * Colour transfer by per-channel mean and standard deviation (Reinhard et al., "Color Transfer between
 * Images", 2001, eq. 11, here in RGB): each generated plane is shifted and scaled so that over `region` its
 * statistics equal the source's there. The gain is limited to [1/maxGain, maxGain], so a flat region cannot
 * blow up the patch's contrast. Returns new planes; the inputs are not changed.
 */
export function matchColourStatistics(generated: readonly Float32Array[], source: readonly ArrayLike<number>[], region: Uint8Array, maxGain = 2): Float32Array[] {
  const count = region.reduce((n, v) => n + (v ? 1 : 0), 0);
  if (count === 0) return generated.map((plane) => plane.slice());
  const stats = (plane: ArrayLike<number>) => {
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < region.length; i++) {
      if (!region[i]) continue;
      const v = plane[i] ?? 0;
      sum += v;
      squares += v * v;
    }
    const mean = sum / count;
    return { mean, std: Math.sqrt(Math.max(0, squares / count - mean * mean)) };
  };
  return generated.map((plane, c) => {
    const g = stats(plane);
    const s = stats(source[c]!);
    const gain = g.std > 1e-6 ? Math.min(maxGain, Math.max(1 / maxGain, s.std / g.std)) : 1;
    return plane.map((v) => s.mean + (v - g.mean) * gain);
  });
}
