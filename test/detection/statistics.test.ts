import { describe, expect, it } from "vitest";
import {
  clopperPearson,
  inverseRegularizedIncompleteBeta,
  missRateReport,
  regularizedIncompleteBeta,
  ScoringInputError,
  type ScoredSample,
} from "../../src/detection/index.ts";

/**
 * An independent route to the same interval: Clopper-Pearson's defining tail equations on the binomial
 * distribution itself (sums of pmf terms, bisection on p), no incomplete beta involved.
 *   upper: P(X <= x | n, p) = alpha/2      lower: P(X >= x | n, p) = alpha/2
 */
function binomialTail(x: number, n: number, p: number, atMost: boolean): number {
  let total = 0;
  let logChoose = 0; // ln C(n, k), advanced by C(n, k) = C(n, k - 1) * (n - k + 1) / k
  for (let k = 0; k <= n; k++) {
    if (k > 0) logChoose += Math.log(n - k + 1) - Math.log(k);
    if (atMost ? k > x : k < x) continue;
    total += Math.exp(logChoose + k * Math.log(p) + (n - k) * Math.log1p(-p));
  }
  return total;
}
function bisect(f: (p: number) => number, increasing: boolean): number {
  let lo = 1e-15;
  let hi = 1 - 1e-15;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < 0 === increasing) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
function referenceInterval(x: number, n: number, level = 0.95): [number, number] {
  const half = (1 - level) / 2;
  const lower = x === 0 ? 0 : bisect((p) => binomialTail(x, n, p, false) - half, true);
  const upper = x === n ? 1 : bisect((p) => binomialTail(x, n, p, true) - half, false);
  return [lower, upper];
}

describe("Clopper-Pearson interval", () => {
  it("matches published values (e.g. R binom.test)", () => {
    const published: [number, number, number, number][] = [
      [0, 10, 0, 0.3085],
      [5, 10, 0.1871, 0.8129],
      [1, 10, 0.0025, 0.445],
      [10, 10, 0.6915, 1],
      [3, 20, 0.0321, 0.3789],
      [50, 100, 0.3983, 0.6017],
    ];
    for (const [x, n, lower, upper] of published) {
      const interval = clopperPearson(x, n);
      expect(interval.lower, `${x}/${n} lower`).toBeCloseTo(lower, 4);
      expect(interval.upper, `${x}/${n} upper`).toBeCloseTo(upper, 4);
      expect(interval.rate).toBe(x / n);
    }
  });

  it("agrees with the binomial tail equations solved independently, at 95 % and 90 %", () => {
    for (const [x, n] of [[0, 1], [1, 1], [2, 7], [13, 40], [99, 250], [1, 1000]] as const) {
      for (const level of [0.95, 0.9]) {
        const interval = clopperPearson(x, n, level);
        const [lower, upper] = referenceInterval(x, n, level);
        expect(interval.lower).toBeCloseTo(lower, 8);
        expect(interval.upper).toBeCloseTo(upper, 8);
      }
    }
  });

  it("inverts the regularized incomplete beta, whose known closed forms it reproduces", () => {
    // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a
    expect(regularizedIncompleteBeta(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** 4, 14);
    expect(regularizedIncompleteBeta(0.6, 3, 1)).toBeCloseTo(0.6 ** 3, 14);
    expect(regularizedIncompleteBeta(0.5, 7.5, 7.5)).toBeCloseTo(0.5, 14); // symmetry
    expect(inverseRegularizedIncompleteBeta(regularizedIncompleteBeta(0.123, 2.5, 9), 2.5, 9)).toBeCloseTo(0.123, 12);
  });

  it("refuses impossible counts with a typed error", () => {
    expect(() => clopperPearson(3, 2)).toThrow(ScoringInputError);
    expect(() => clopperPearson(0, 0)).toThrow(ScoringInputError);
    expect(() => clopperPearson(1.5, 4)).toThrow(ScoringInputError);
  });
});

describe("missRateReport", () => {
  // 40 samples: fog misses 6 of 10, clear misses 1 of 30 (a wrong class); object size spread over [0.05, 0.45]
  const samples: ScoredSample[] = Array.from({ length: 40 }, (_, i) => {
    const weather = i < 10 ? "fog" : "clear";
    const outcome = i < 6 ? "MISS" : i === 20 ? "WRONG_CLASS" : "HIT";
    return { parameters: { weather, hazardW: 0.05 + (0.4 * i) / 39, hazard: "pedestrian" }, outcome };
  });

  it("reports the overall miss rate and one row per categorical value, each with n and its exact interval", () => {
    const report = missRateReport(samples);
    expect(report.overall).toMatchObject({ n: 40, misses: 7, rate: 7 / 40 });
    const [lower, upper] = referenceInterval(7, 40);
    expect(report.overall.lower).toBeCloseTo(lower, 8);
    expect(report.overall.upper).toBeCloseTo(upper, 8);
    const weather = report.byParameter.find((b) => b.parameter === "weather")!;
    expect(weather.kind).toBe("categorical");
    expect(weather.levels.map((l) => [l.value, l.n, l.misses])).toEqual([
      ["clear", 30, 1],
      ["fog", 10, 6],
    ]);
    const fog = weather.levels[1]!;
    expect([fog.lower, fog.upper].map((v) => Number(v.toFixed(4)))).toEqual(referenceInterval(6, 10).map((v) => Number(v.toFixed(4))));
  });

  it("bins continuous parameters (equal width by default, or given edges; the last bin is closed)", () => {
    const report = missRateReport(samples, { bins: 4 });
    const width = report.byParameter.find((b) => b.parameter === "hazardW")!;
    expect(width.kind).toBe("binned");
    expect(width.levels.reduce((n, l) => n + l.n, 0)).toBe(40);
    expect(width.levels[0]!.bin![0]).toBeCloseTo(0.05, 12);
    expect(width.levels.at(-1)!.bin![1]).toBeCloseTo(0.45, 12);
    const edged = missRateReport(samples, { binEdges: { hazardW: [0, 0.1, 0.5] } }).byParameter.find((b) => b.parameter === "hazardW")!;
    // i with 0.05 + 0.4 i / 39 < 0.1: i <= 4 -> 5 samples, all misses
    expect(edged.levels.map((l) => [l.bin, l.n, l.misses])).toEqual([
      [[0, 0.1], 5, 5],
      [[0.1, 0.5], 35, 2],
    ]);
  });

  it("can leave wrong-class outcomes out of the miss count", () => {
    expect(missRateReport(samples, { wrongClassIsMiss: false }).overall.misses).toBe(6);
  });

  it("refuses an empty sample list and unordered edges", () => {
    expect(() => missRateReport([])).toThrow(ScoringInputError);
    expect(() => missRateReport(samples, { binEdges: { hazardW: [0.5, 0.1] } })).toThrow(ScoringInputError);
  });
});
