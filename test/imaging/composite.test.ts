// Compositing an inpainted region back into a scan: region checks, feather weights, grid coverage, and
// the guarantee that weight-0 pixels are copied unchanged.
import { describe, expect, it } from "vitest";
import { compositeInto, distanceToRegion, featherWeights, gridMask, maskBounds, regionMask, RegionError, resizePlane } from "../../src/imaging/index.ts";

describe("regionMask", () => {
  it("marks a box and refuses boxes that leave the scan, are empty or fractional", () => {
    const mask = regionMask({ kind: "box", x: 1, y: 2, width: 3, height: 2 }, 5, 6);
    expect(mask.reduce((n, v) => n + v, 0)).toBe(6);
    expect(maskBounds(mask, 5, 6)).toEqual({ xMin: 1, yMin: 2, xMax: 4, yMax: 4 });
    expect(() => regionMask({ kind: "box", x: 4, y: 0, width: 3, height: 1 }, 5, 6)).toThrow(/does not fit the 6x5 scan/);
    expect(() => regionMask({ kind: "box", x: 0, y: 0, width: 0, height: 1 }, 5, 6)).toThrow(RegionError);
    expect(() => regionMask({ kind: "box", x: 0.5, y: 0, width: 1, height: 1 }, 5, 6)).toThrow(/whole number/);
    expect(() => regionMask({ kind: "mask", mask: new Uint8Array(30) }, 5, 6)).toThrow(/empty/);
    expect(() => regionMask({ kind: "mask", mask: new Uint8Array(29) }, 5, 6)).toThrow(/29 pixels/);
  });
});

describe("featherWeights", () => {
  it("is 1 inside, falls linearly with chessboard distance over the band, and 0 beyond", () => {
    const mask = regionMask({ kind: "box", x: 5, y: 5, width: 1, height: 1 }, 11, 11);
    const distance = distanceToRegion(mask, 11, 11, 10);
    expect(distance[5 * 11 + 8]).toBe(3);
    expect(distance[2 * 11 + 2]).toBe(3);
    const weights = featherWeights(mask, 11, 11, 3);
    expect(weights[5 * 11 + 5]).toBe(1);
    expect(weights[5 * 11 + 6]).toBeCloseTo(0.75);
    expect(weights[5 * 11 + 8]).toBeCloseTo(0.25);
    expect(weights[5 * 11 + 9]).toBe(0);
    expect(weights.filter((w) => w > 0).length).toBe(49);
    expect(() => featherWeights(mask, 11, 11, -1)).toThrow(/feather/);
  });
});

describe("gridMask", () => {
  it("covers every cell a weighted pixel falls in, plus one cell around it, on a coarser grid", () => {
    const mask = regionMask({ kind: "box", x: 64, y: 64, width: 2, height: 2 }, 128, 128);
    const grid = gridMask(featherWeights(mask, 128, 128, 0), 128, 128, 64, 64);
    const cells = [...grid.keys()].filter((i) => grid[i] === 1).map((i) => [i % 64, Math.floor(i / 64)]);
    expect(cells).toContainEqual([32, 32]);
    expect(cells).toContainEqual([31, 31]);
    expect(cells).toContainEqual([33, 33]);
    expect(cells).toHaveLength(9);
  });
});

describe("compositeInto", () => {
  it("copies weight-0 pixels exactly, takes the generated value at weight 1 and blends between", () => {
    const source = Int32Array.from([10, 20, 30, 65535]);
    const generated = Float32Array.from([1000, 1000, 1000, 1000.4]);
    const out = compositeInto(source, generated, Float32Array.from([0, 1, 0.5, 0]), 0, 65535);
    expect(Array.from(out)).toEqual([10, 1000, 515, 65535]);
    expect(Array.from(compositeInto(Int32Array.from([5]), Float32Array.from([-50]), Float32Array.from([1]), 0, 65535))).toEqual([0]);
  });

  it("resizePlane keeps a constant image constant", () => {
    expect(Array.from(resizePlane(new Float32Array(4).fill(7), 2, 2, 5, 3))).toEqual(new Array(15).fill(7));
  });
});
