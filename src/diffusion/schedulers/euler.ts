// Euler and Euler ancestral in sigma space — Karras et al. 2022, "Elucidating the Design Space of
// Diffusion-Based Generative Models", Algorithm 1 with s_churn = 0; the ancestral split of each step is
// k-diffusion's get_ancestral_step. Semantics of diffusers' Euler(Ancestral)DiscreteScheduler ("linspace").
import {
  alphasCumprod,
  checkSameLength,
  checkStepCount,
  makeBetas,
  requireNoise,
  SchedulerError,
  spacedTimesteps,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerStepResult,
} from "./common.ts";

export interface EulerConfig extends SchedulerConfig {
  ancestral?: boolean;
}

export class EulerScheduler implements Scheduler {
  readonly stochastic: boolean;
  readonly alphasCumprod: Float64Array;
  /** sigma_t = sqrt((1 - abar_t)/abar_t) for every training timestep. */
  readonly trainSigmas: Float64Array;
  initNoiseSigma = 1;
  stepIndex = 0;
  private _timesteps: number[] | null = null;
  private sigmas: number[] = [];

  constructor(readonly config: Readonly<EulerConfig>) {
    this.stochastic = config.ancestral ?? false;
    this.alphasCumprod = alphasCumprod(makeBetas(config.schedule));
    this.trainSigmas = this.alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
  }

  get timesteps(): readonly number[] {
    if (!this._timesteps) throw new SchedulerError("call setTimesteps() before using the scheduler");
    return this._timesteps;
  }

  /** sigma at a (possibly fractional) timestep: linear interpolation, as numpy.interp. */
  sigmaAt(t: number): number {
    const s = this.trainSigmas;
    if (t <= 0) return s[0] ?? 0;
    if (t >= s.length - 1) return s[s.length - 1] ?? 0;
    const j = Math.floor(t);
    const lo = s[j] ?? 0;
    const slope = (s[j + 1] ?? 0) - lo;
    return slope * (t - j) + lo;
  }

  setTimesteps(n: number): void {
    checkStepCount(n, this.config.schedule.trainSteps);
    const spacing = this.config.spacing ?? "linspace";
    this._timesteps = spacedTimesteps(spacing, n, this.config.schedule.trainSteps, this.config.stepsOffset);
    this.sigmas = this._timesteps.map((t) => this.sigmaAt(t));
    this.sigmas.push(0);
    const max = Math.max(...this.sigmas);
    // x_T = noise * sigma_max (diffusers: sqrt(sigma_max^2 + 1) for "leading")
    this.initNoiseSigma = spacing === "leading" ? Math.sqrt(max * max + 1) : max;
    this.stepIndex = 0;
  }

  setBeginIndex(index: number): void {
    if (index < 0 || index >= this.timesteps.length) throw new SchedulerError(`begin index ${index} outside [0, ${this.timesteps.length})`);
    this.stepIndex = index;
  }

  private indexOf(timestep: number): number {
    const index = this.timesteps.indexOf(timestep);
    if (index < 0) throw new SchedulerError(`timestep ${timestep} is not in this schedule`);
    return index;
  }

  /** The denoiser sees x / sqrt(sigma^2 + 1) (the variance-preserving x_t). */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.indexOf(timestep)] ?? 0;
    const scale = Math.sqrt(sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = (sample[i] ?? 0) / scale;
    return out;
  }

  /** In sigma space x = x0 + sigma eps. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSameLength(original, noise, "addNoise");
    const sigma = this.sigmaAt(timestep);
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = (original[i] ?? 0) + sigma * (noise[i] ?? 0);
    return out;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: Float32Array): SchedulerStepResult {
    const timesteps = this.timesteps;
    checkSameLength(modelOutput, sample, "Euler step");
    const i = this.stepIndex;
    if (timesteps[i] !== timestep) throw new SchedulerError(`Euler expected timestep ${timesteps[i]} at step ${i}, got ${timestep}`);
    const sigma = this.sigmas[i] ?? 0;
    const sigmaNext = this.sigmas[i + 1] ?? 0;
    // 1. ancestral split (k-diffusion get_ancestral_step): sigma_up^2 = s_next^2 (s^2 - s_next^2) / s^2, sigma_down^2 = s_next^2 - sigma_up^2
    let sigmaUp = 0;
    let target = sigmaNext;
    if (this.stochastic) {
      sigmaUp = Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma));
      target = Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp);
    }
    const variation = sigmaUp > 0 ? requireNoise(noise, sample.length, "Euler ancestral") : null;
    const dt = target - sigma;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const vDiv = sigma * sigma + 1;
    const prevSample = new Float32Array(sample.length);
    const predOriginal = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k++) {
      const x = sample[k] ?? 0;
      const m = modelOutput[k] ?? 0;
      // 2. x0 in sigma space: epsilon: x0 = x - sigma eps; v: x0 = v * (-sigma/sqrt(sigma^2+1)) + x/(sigma^2+1)
      const x0 = this.config.prediction === "epsilon" ? x - sigma * m : m * vScale + x / vDiv;
      predOriginal[k] = x0;
      // 3. Karras eq. (5) ODE derivative d = (x - x0)/sigma, Euler step to the target sigma
      const derivative = (x - x0) / sigma;
      let prev = x + derivative * dt;
      if (variation) prev += (variation[k] ?? 0) * sigmaUp;
      prevSample[k] = prev;
    }
    this.stepIndex += 1;
    return { prevSample, predOriginal };
  }
}
