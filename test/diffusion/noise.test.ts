import { describe, expect, it } from "vitest";
import { NoiseKeyError, noiseState, SampleNoise } from "../../src/diffusion/noise.ts";

describe("per-sample noise keyed by (seed, index)", () => {
  it("is a pure function of (seed, index)", () => {
    expect(new SampleNoise(7, 5).gaussian(100)).toEqual(new SampleNoise(7, 5).gaussian(100));
    expect(new SampleNoise(7, 5).gaussian(100)).not.toEqual(new SampleNoise(7, 6).gaussian(100));
    expect(new SampleNoise(7, 5).gaussian(100)).not.toEqual(new SampleNoise(8, 5).gaussian(100));
    expect(noiseState(2 ** 40, 1)).not.toEqual(noiseState(0, 1));
  });

  it("is standard normal", () => {
    const values = new SampleNoise(1, 0).gaussian(200_000);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    expect(values.filter((v) => Math.abs(v) < 1).length / values.length).toBeCloseTo(0.6827, 2);
  });

  it("refuses negative or fractional keys", () => {
    expect(() => new SampleNoise(-1, 0)).toThrow(NoiseKeyError);
    expect(() => new SampleNoise(1, 0.5)).toThrow(/sample index/);
  });
});
