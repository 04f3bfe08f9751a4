// What an insertion changed: pixel values that differ, split by whether they lie within `margin` pixels
// (chessboard) of the box, and the files a directory holds (nothing may be left behind by a refusal).
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Changed values over every plane (one plane for a gray scan, three for an RGB frame). */
export function changedPixels(before: readonly ArrayLike<number>[], after: readonly ArrayLike<number>[], width: number, height: number, box: PixelBox, margin: number): { inside: number; outside: number } {
  let inside = 0;
  let outside = 0;
  before.forEach((plane, p) => {
    const other = after[p]!;
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        if (plane[r * width + c] === other[r * width + c]) continue;
        const near = c >= box.x - margin && c < box.x + box.width + margin && r >= box.y - margin && r < box.y + box.height + margin;
        if (near) inside++;
        else outside++;
      }
    }
  });
  return { inside, outside };
}

/** Every regular file under directory, recursively ([] when it does not exist). */
export function filesUnder(directory: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(directory);
  } catch {
    return [];
  }
  return entries.flatMap((name) => (statSync(path.join(directory, name)).isDirectory() ? filesUnder(path.join(directory, name)) : [path.join(directory, name)]));
}
