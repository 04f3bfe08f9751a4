// The suite statistics against values one can check by hand or in R's documentation, and against an independent
// computation: exact binomial tail sums in BigInt arithmetic, R's definition of the two-sided binomial test
// (every outcome no more likely than the observed one), and Holm's procedure as sequential comparisons.
import { describe, expect, it } from "vitest";
import { clopperPearson } from "../../src/detection/index.ts";
import { binomialHalfLowerTail, exactMcNemar, holmAdjust, SuiteInputError } from "../../src/suites/index.ts";

/** C(n, k) exactly. */
function choose(n: number, k: number): bigint {
  let c = 1n;
  for (let i = 0; i < k; i++) c = (c * BigInt(n - i)) / BigInt(i + 1);
  return c;
}

/** R's binom.test(x, n, 0.5) two-sided p-value: the sum of P(k) over every k with P(k) <= P(x), exact to double rounding. */
function binomTestTwoSided(x: number, n: number): number {
  const pmf = Array.from({ length: n + 1 }, (_, k) => choose(n, k));
  const observed = pmf[x]!;
  const numerator = pmf.filter((p) => p <= observed).reduce((a, b) => a + b, 0n);
  const total = 1n << BigInt(n);
  // ratio of two big integers as a double: scale to keep 60 significant bits
  return Math.min(1, Number((numerator * (1n << 60n)) / total) / 2 ** 60);
}

describe("exact McNemar test", () => {
  it("is binom.test on the discordant pairs: 1 of 10 gives p = 22/1024 (R: binom.test(1, 10)$p.value = 0.02148)", () => {
    const result = exactMcNemar({ bothHit: 40, candidateOnlyHit: 1, baselineOnlyHit: 9, bothMiss: 5 });
    expect(result.discordant).toBe(10);
    expect(result.pValue).toBeCloseTo(22 / 1024, 15);
    expect(result.missRateDifference).toBeCloseTo((9 - 1) / 55, 15);
  });

  it("gives p = 1 with no discordant pair or a balanced split, and 2/32 for 5 to 0", () => {
    expect(exactMcNemar({ bothHit: 10, candidateOnlyHit: 0, baselineOnlyHit: 0, bothMiss: 3 }).pValue).toBe(1);
    expect(exactMcNemar({ bothHit: 0, candidateOnlyHit: 4, baselineOnlyHit: 4, bothMiss: 0 }).pValue).toBe(1);
    expect(exactMcNemar({ bothHit: 0, candidateOnlyHit: 0, baselineOnlyHit: 5, bothMiss: 0 }).pValue).toBeCloseTo(0.0625, 15);
  });

  it("matches R's two-sided binomial test computed exactly, for every split of up to 40 discordant pairs", () => {
    for (let n = 1; n <= 40; n++) {
      for (let b = 0; b <= n; b++) {
        const p = exactMcNemar({ bothHit: 3, candidateOnlyHit: n - b, baselineOnlyHit: b, bothMiss: 2 }).pValue;
        expect(p, `b = ${b}, c = ${n - b}`).toBeCloseTo(binomTestTwoSided(b, n), 12);
      }
    }
  });

  it("stays finite and exact where 2^-n underflows (n = 3000)", () => {
    const p = exactMcNemar({ bothHit: 0, candidateOnlyHit: 1440, baselineOnlyHit: 1560, bothMiss: 0 }).pValue;
    expect(p).toBeGreaterThan(0);
    expect(p).toBeCloseTo(binomTestTwoSided(1560, 3000), 12);
    expect(binomialHalfLowerTail(1500, 3000)).toBeGreaterThan(0.5);
  });

  it("refuses counts that are not non-negative integers, naming the count", () => {
    expect(() => exactMcNemar({ bothHit: 1, candidateOnlyHit: -1, baselineOnlyHit: 2, bothMiss: 0 })).toThrow(SuiteInputError);
    expect(() => exactMcNemar({ bothHit: 1, candidateOnlyHit: 1, baselineOnlyHit: 2.5, bothMiss: 0 })).toThrow(/baselineOnlyHit must be a non-negative integer/);
  });
});

describe("Holm correction", () => {
  it("matches p.adjust(c(0.01, 0.04, 0.03, 0.005), 'holm') = 0.03 0.06 0.06 0.02 (worked by hand: 4x.005, 3x.01, 2x.03, max(.06, 1x.04))", () => {
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((expected, i) => expect(adjusted[i]).toBeCloseTo(expected, 15));
  });

  it("caps at 1, keeps ties in order, and leaves a single test unchanged", () => {
    expect(holmAdjust([0.5, 0.5, 0.9])).toEqual([1, 1, 1]);
    expect(holmAdjust([0.2])).toEqual([0.2]);
    expect(holmAdjust([])).toEqual([]);
  });

  it("rejects exactly what Holm's sequential procedure rejects, at several alphas, on seeded random p-values", () => {
    let state = 12345;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) ** 3;
    for (let trial = 0; trial < 200; trial++) {
      const m = 1 + (trial % 9);
      const p = Array.from({ length: m }, random);
      const adjusted = holmAdjust(p);
      for (const alpha of [0.01, 0.05, 0.1]) {
        // Holm (1979): order the p-values; reject H_(i) while p_(i) <= alpha / (m - i), stop at the first that is not
        const order = p.map((value, i) => ({ value, i })).sort((a, b) => a.value - b.value);
        const rejected = new Set<number>();
        for (const [rank, { value, i }] of order.entries()) {
          if (value > alpha / (m - rank)) break;
          rejected.add(i);
        }
        p.forEach((_, i) => expect(adjusted[i]! <= alpha, `trial ${trial}, alpha ${alpha}, test ${i}`).toBe(rejected.has(i)));
      }
    }
  });

  it("refuses a p-value outside [0, 1]", () => {
    expect(() => holmAdjust([0.1, 1.2])).toThrow(/p-value must be in \[0, 1\], got 1.2/);
  });
});

describe("Clopper-Pearson interval (the miss-rate bound suites judge by)", () => {
  it("matches R's binom.test(682, 925, p = 0.75) interval 0.7076683 0.7654066 (R documentation example)", () => {
    const interval = clopperPearson(682, 925);
    expect(interval.lower).toBeCloseTo(0.7076683, 6);
    expect(interval.upper).toBeCloseTo(0.7654066, 6);
  });

  it("gives 1 - 0.025^(1/n) as the upper bound with no miss (closed form)", () => {
    for (const n of [1, 10, 59]) expect(clopperPearson(0, n).upper).toBeCloseTo(1 - 0.025 ** (1 / n), 10);
  });
});
