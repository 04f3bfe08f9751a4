// Schedulers against golden values from the PyTorch reference (training/reference/make_scheduler_goldens.py).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createScheduler, parseSampler, SAMPLERS, type SamplerName, type TimestepSpacing } from "../../src/diffusion/schedulers/index.ts";
import type { NoiseSchedule, PredictionType } from "../../src/models/index.ts";

interface Case {
  sampler: SamplerName;
  eta: number;
  prediction: PredictionType;
  steps: number;
  schedule: string;
  /** scheduler_config.json options (absent: each scheduler's defaults). */
  spacing?: TimestepSpacing;
  stepsOffset?: number;
  setAlphaToOne?: boolean;
  timesteps: number[];
  initNoiseSigma: number;
  firstStep: number[];
  final: number[];
  addNoise: { t: number; value: number[] }[];
}
const golden = JSON.parse(readFileSync(new URL("../fixtures/schedulers/golden.json", import.meta.url), "utf8")) as {
  schedules: Record<string, NoiseSchedule>;
  noise: number[];
  stepNoise: number[][];
  x0: number[];
  cases: Case[];
};

/** The analytic stand-in for a denoiser used by the reference: x + 0.05 sin(3x + t/100). */
function analyticModel(x: Float32Array, t: number): Float32Array {
  return x.map((v) => v + 0.05 * Math.sin(3 * v + t / 100));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return max;
}

// Tolerance: the acceptance bound, 1e-3 max abs error on the final sample (measured errors are ~1e-6).
const TOLERANCE = 1e-3;

describe("schedulers match the PyTorch reference", () => {
  for (const c of golden.cases) {
    const options = c.spacing ? ` ${c.spacing} offset ${c.stepsOffset ?? 0}${c.setAlphaToOne === false ? " alpha_0 final" : ""}` : "";
    const label = `${c.sampler}${c.eta ? ` eta=${c.eta}` : ""} ${c.prediction} ${c.steps} steps (${c.schedule})${options}`;
    it(label, () => {
      const schedule = golden.schedules[c.schedule];
      if (!schedule) throw new Error(`no schedule ${c.schedule}`);
      const scheduler = createScheduler(c.sampler, {
        schedule,
        prediction: c.prediction,
        eta: c.eta,
        ...(c.spacing ? { spacing: c.spacing } : {}),
        ...(c.stepsOffset !== undefined ? { stepsOffset: c.stepsOffset } : {}),
        ...(c.setAlphaToOne !== undefined ? { setAlphaToOne: c.setAlphaToOne } : {}),
      });
      scheduler.setTimesteps(c.steps);
      expect(maxAbsDiff(scheduler.timesteps, c.timesteps)).toBeLessThan(1e-9);
      expect(scheduler.initNoiseSigma).toBeCloseTo(c.initNoiseSigma, 6);
      let x: Float32Array = Float32Array.from(golden.noise, (v) => v * scheduler.initNoiseSigma);
      let first: Float32Array | null = null as Float32Array | null;
      scheduler.timesteps.forEach((t, i) => {
        const output = analyticModel(scheduler.scaleModelInput(x, t), t);
        const noise = scheduler.stochastic ? Float32Array.from(golden.stepNoise[i] ?? []) : undefined;
        x = scheduler.step(output, t, x, noise).prevSample;
        first ??= x;
      });
      expect(maxAbsDiff(first ?? [], c.firstStep)).toBeLessThan(TOLERANCE);
      expect(maxAbsDiff(x, c.final)).toBeLessThan(TOLERANCE);
      for (const added of c.addNoise) {
        const value = scheduler.addNoise(Float32Array.from(golden.x0), Float32Array.from(golden.noise), added.t);
        expect(maxAbsDiff(value, added.value) / Math.max(1, ...added.value.map(Math.abs))).toBeLessThan(1e-6);
      }
    });
  }

  it("covers every sampler with every spacing, with and without steps_offset", () => {
    for (const sampler of SAMPLERS)
      for (const spacing of ["leading", "trailing", "linspace"])
        for (const offset of [0, 1]) expect(golden.cases.some((c) => c.sampler === sampler && c.spacing === spacing && c.stepsOffset === offset)).toBe(true);
  });

  it("covers every sampler at 20 and 50 steps", () => {
    for (const sampler of SAMPLERS) {
      for (const steps of [20, 50]) expect(golden.cases.some((c) => c.sampler === sampler && c.steps === steps)).toBe(true);
    }
  });
});

describe("scheduler contract", () => {
  const schedule: NoiseSchedule = { kind: "linear", trainSteps: 1000, betaStart: 0.0001, betaEnd: 0.02 };
  it("throws when step is called before setTimesteps", () => {
    for (const sampler of SAMPLERS) {
      const scheduler = createScheduler(sampler, { schedule, prediction: "epsilon" });
      expect(() => scheduler.step(new Float32Array(4), 999, new Float32Array(4), new Float32Array(4))).toThrow(/setTimesteps/);
    }
  });
  it("rejects an unknown sampler, listing the allowed ones", () => {
    expect(() => parseSampler("plms")).toThrow(/allowed: ddpm, ddim, dpmpp-2m, euler, euler-ancestral/);
  });
  it("rejects step counts outside [1, trainSteps]", () => {
    const scheduler = createScheduler("ddim", { schedule, prediction: "epsilon" });
    expect(() => scheduler.setTimesteps(0)).toThrow(/\[1, 1000\]/);
    expect(() => scheduler.setTimesteps(1001)).toThrow(/\[1, 1000\]/);
  });
  it("stochastic samplers demand variance noise", () => {
    const scheduler = createScheduler("euler-ancestral", { schedule, prediction: "epsilon" });
    scheduler.setTimesteps(5);
    const t = scheduler.timesteps[0] ?? 0;
    expect(() => scheduler.step(new Float32Array(4), t, new Float32Array(4))).toThrow(/noise/);
  });
});
