// DPM-Solver++(2M) — Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
// Models", Algorithm 2 (multistep, second order, data prediction, midpoint form). Semantics of diffusers'
// DPMSolverMultistepScheduler (solver_order 2, "linspace" spacing, final sigma 0 reached by a first-order step).
import {
  alphasCumprod,
  checkSameLength,
  checkStepCount,
  linspaceAt,
  makeBetas,
  roundHalfEven,
  SchedulerError,
  spacedTimesteps,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerStepResult,
} from "./common.ts";

export class DPMSolverMultistepScheduler implements Scheduler {
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: Float64Array;
  /** x0 predictions of the last two steps (the multistep history). */
  modelOutputs: Float32Array[] = [];
  /** How many steps have run (capped at the solver order): the first step must be first order. */
  lowerOrderNums = 0;
  stepIndex = 0;
  private _timesteps: number[] | null = null;
  private sigmas: number[] = [];

  constructor(readonly config: Readonly<SchedulerConfig>) {
    this.alphasCumprod = alphasCumprod(makeBetas(config.schedule));
  }

  get timesteps(): readonly number[] {
    if (!this._timesteps) throw new SchedulerError("call setTimesteps() before using the scheduler");
    return this._timesteps;
  }

  setTimesteps(n: number): void {
    const T = this.config.schedule.trainSteps;
    checkStepCount(n, T);
    const spacing = this.config.spacing ?? "linspace";
    const timesteps: number[] = [];
    if (spacing === "linspace") {
      // linspace(0, T-1, n+1).round()[::-1][:-1]
      for (let i = n; i >= 1; i--) timesteps.push(roundHalfEven(linspaceAt(0, T - 1, n + 1, i)));
    } else if (spacing === "leading") {
      // diffusers' DPMSolverMultistepScheduler: (arange(0, n+1) * (T // (n+1)))[::-1][:-1] + steps_offset,
      // n + 1 points with the last dropped (DDIM's "leading" has n)
      const ratio = Math.floor(T / (n + 1));
      for (let i = n; i >= 1; i--) timesteps.push(i * ratio + (this.config.stepsOffset ?? 0));
    } else {
      timesteps.push(...spacedTimesteps(spacing, n, T, this.config.stepsOffset).map(roundHalfEven));
    }
    this._timesteps = timesteps;
    // sigma_t = sqrt((1 - abar_t) / abar_t), then 0 at the end
    this.sigmas = timesteps.map((t) => {
      const a = this.alphasCumprod[t] ?? Number.NaN;
      return Math.sqrt((1 - a) / a);
    });
    this.sigmas.push(0);
    this.modelOutputs = [];
    this.lowerOrderNums = 0;
    this.stepIndex = 0;
  }

  setBeginIndex(index: number): void {
    if (index < 0 || index >= this.timesteps.length) throw new SchedulerError(`begin index ${index} outside [0, ${this.timesteps.length})`);
    this.stepIndex = index;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSameLength(original, noise, "addNoise");
    const a = this.alphasCumprod[Math.round(timestep)] ?? Number.NaN;
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(a) * (original[i] ?? 0) + Math.sqrt(1 - a) * (noise[i] ?? 0);
    return out;
  }

  /** alpha_t = 1/sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t; lambda_t = log(alpha_t / sigma_t) (paper sec. 2). */
  private static alphaSigma(sigma: number): { alpha: number; sigma: number; lambda: number } {
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    const s = sigma * alpha;
    return { alpha, sigma: s, lambda: s === 0 ? Number.POSITIVE_INFINITY : Math.log(alpha) - Math.log(s) };
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): SchedulerStepResult {
    const timesteps = this.timesteps;
    checkSameLength(modelOutput, sample, "DPM-Solver++ step");
    const i = this.stepIndex;
    if (timesteps[i] !== timestep) throw new SchedulerError(`DPM-Solver++ expected timestep ${timesteps[i]} at step ${i}, got ${timestep}`);
    // 1. alphas, sigmas and half-log-SNRs lambda at s (current) and t (next)
    const s0 = DPMSolverMultistepScheduler.alphaSigma(this.sigmas[i] ?? 0);
    const tt = DPMSolverMultistepScheduler.alphaSigma(this.sigmas[i + 1] ?? 0);
    const h = tt.lambda - s0.lambda;
    const expm1 = Number.isFinite(h) ? Math.expm1(-h) : -1; // e^{-h} - 1
    // 2. data prediction x0 from the model output (DPM-Solver++ eq. (9) solves for x0)
    const aS = s0.alpha * s0.alpha;
    const predOriginal = new Float32Array(sample.length);
    const sa = Math.sqrt(aS);
    const s1a = Math.sqrt(1 - aS);
    const isEpsilon = this.config.prediction === "epsilon";
    for (let k = 0; k < sample.length; k++) {
      const m = modelOutput[k] ?? 0;
      const x = sample[k] ?? 0;
      predOriginal[k] = isEpsilon ? (x - s1a * m) / sa : sa * x - s1a * m; // see predictX0Eps
    }
    this.modelOutputs = [...this.modelOutputs, predOriginal].slice(-2);
    const isFinal = i === timesteps.length - 1;
    const firstOrder = this.lowerOrderNums < 1 || isFinal;
    const prevSample = new Float32Array(sample.length);
    const ratio = tt.sigma / s0.sigma;
    if (firstOrder) {
      // 3a. first-order update, formula (10) (equivalent to DDIM): x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) x0
      for (let k = 0; k < sample.length; k++) prevSample[k] = ratio * (sample[k] ?? 0) - tt.alpha * expm1 * (predOriginal[k] ?? 0);
    } else {
      // 3b. second-order multistep, Algorithm 2: r = h_{i-1}/h_i, D = m0 + (1/(2r)) (m0 - m1)
      const sPrev = DPMSolverMultistepScheduler.alphaSigma(this.sigmas[i - 1] ?? 0);
      const r0 = (s0.lambda - sPrev.lambda) / h;
      const m0 = this.modelOutputs[1] ?? predOriginal;
      const m1 = this.modelOutputs[0] ?? predOriginal;
      for (let k = 0; k < sample.length; k++) {
        const d0 = m0[k] ?? 0;
        const d1 = (1 / r0) * (d0 - (m1[k] ?? 0));
        prevSample[k] = ratio * (sample[k] ?? 0) - tt.alpha * expm1 * d0 - 0.5 * tt.alpha * expm1 * d1;
      }
    }
    this.lowerOrderNums = Math.min(this.lowerOrderNums + 1, 2);
    this.stepIndex += 1;
    return { prevSample, predOriginal };
  }
}
