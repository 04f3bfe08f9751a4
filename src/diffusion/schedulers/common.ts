// What every scheduler shares: the training noise schedule (betas, alpha-bars), timestep spacing, and the
// conversions between model outputs (epsilon or v) and the predicted clean sample x0.
import { TIMESTEP_SPACINGS, type NoiseSchedule, type PredictionType, type TimestepSpacing } from "../../models/index.ts";

export { TIMESTEP_SPACINGS, type TimestepSpacing };

export interface SchedulerConfig {
  schedule: NoiseSchedule;
  prediction: PredictionType;
  /** How inference timesteps are spread over the training steps; each scheduler has its diffusers default. */
  spacing?: TimestepSpacing;
  /** Added to "leading" timesteps (diffusers' steps_offset; Stable Diffusion 1.x: 1). */
  stepsOffset?: number;
  /** DDIM: alpha-bar before the chain's start is 1 (true, default) or alpha-bar_0 (diffusers' set_alpha_to_one). */
  setAlphaToOne?: boolean;
}

export interface SchedulerStepResult {
  /** x_{t-1}: the sample after this step. */
  prevSample: Float32Array;
  /** The model's estimate of the clean sample x0 at this step. */
  predOriginal: Float32Array;
}

/** diffusers-style scheduler: setTimesteps, step, addNoise (+ scaleModelInput and initNoiseSigma for sigma-space solvers). */
export interface Scheduler {
  readonly config: Readonly<SchedulerConfig>;
  /** Whether `step` needs fresh Gaussian noise (ancestral samplers). */
  readonly stochastic: boolean;
  /** Descending inference timesteps; throws before setTimesteps. */
  readonly timesteps: readonly number[];
  /** Scale of the initial noise (1 for alpha-space solvers; sigma_max-ish for Euler). */
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  /** Starts the schedule at timesteps[index] (image-to-image skips the first steps). */
  setBeginIndex(index: number): void;
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: Float32Array): SchedulerStepResult;
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
}

export class SchedulerError extends Error {
  override readonly name = "SchedulerError";
}

/** Betas of the training noise schedule, float64. */
export function makeBetas(schedule: NoiseSchedule): Float64Array {
  const T = schedule.trainSteps;
  const betas = new Float64Array(T);
  const start = schedule.betaStart ?? 0.0001;
  const end = schedule.betaEnd ?? 0.02;
  switch (schedule.kind) {
    case "linear":
      for (let i = 0; i < T; i++) betas[i] = linspaceAt(start, end, T, i);
      return betas;
    case "scaled_linear":
      for (let i = 0; i < T; i++) betas[i] = linspaceAt(Math.sqrt(start), Math.sqrt(end), T, i) ** 2;
      return betas;
    case "cosine": {
      // Nichol & Dhariwal 2021, eq. (17): alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) * pi/2), s = 0.008; beta capped at 0.999
      const alphaBar = (u: number) => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      for (let i = 0; i < T; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
      return betas;
    }
    default: {
      const kind: never = schedule.kind;
      throw new SchedulerError(`unknown schedule kind "${String(kind)}"; allowed: linear, scaled_linear, cosine`);
    }
  }
}

/** numpy.linspace(start, stop, num)[i], computed the way numpy does (i * step + start, last = stop). */
export function linspaceAt(start: number, stop: number, num: number, i: number): number {
  if (num === 1) return start;
  if (i === num - 1) return stop;
  const step = (stop - start) / (num - 1);
  return i * step + start;
}

/** alpha-bar_t = prod_{s<=t} (1 - beta_s), DDPM eq. (4). */
export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - (betas[i] ?? 0);
    out[i] = acc;
  }
  return out;
}

/** Round half to even, as numpy.round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Descending timesteps for `n` inference steps out of `trainSteps` (diffusers' timestep_spacing; steps_offset shifts "leading" only). */
export function spacedTimesteps(spacing: TimestepSpacing, n: number, trainSteps: number, stepsOffset = 0): number[] {
  const out: number[] = [];
  switch (spacing) {
    case "leading": {
      const ratio = Math.floor(trainSteps / n);
      for (let i = n - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
      return out;
    }
    case "trailing": {
      // numpy.arange(T, 0, -T/n): element k is T + k * (-T/n)
      const ratio = trainSteps / n;
      const count = Math.ceil(trainSteps / ratio);
      for (let k = 0; k < count; k++) out.push(roundHalfEven(trainSteps + k * -ratio) - 1);
      return out;
    }
    case "linspace":
      for (let i = n - 1; i >= 0; i--) out.push(linspaceAt(0, trainSteps - 1, n, i));
      return out;
    default: {
      const never: never = spacing;
      throw new SchedulerError(`unknown timestep spacing "${String(never)}"; allowed: ${TIMESTEP_SPACINGS.join(", ")}`);
    }
  }
}

export function checkStepCount(n: number, trainSteps: number): void {
  if (!Number.isInteger(n) || n < 1 || n > trainSteps) {
    throw new SchedulerError(`number of inference steps must be an integer in [1, ${trainSteps}], got ${n}`);
  }
}

/**
 * x0 and epsilon from a model output at alpha-bar `a` (element-wise, float64):
 *  epsilon: x0 = (x - sqrt(1-a) eps) / sqrt(a)             (DDPM eq. (15))
 *  v:       x0 = sqrt(a) x - sqrt(1-a) v,  eps = sqrt(a) v + sqrt(1-a) x   (Salimans & Ho 2022, sec. 4)
 */
export function predictX0Eps(prediction: PredictionType, modelOutput: number, sample: number, a: number): [number, number] {
  const sa = Math.sqrt(a);
  const s1a = Math.sqrt(1 - a);
  if (prediction === "epsilon") return [(sample - s1a * modelOutput) / sa, modelOutput];
  return [sa * sample - s1a * modelOutput, sa * modelOutput + s1a * sample];
}

export function requireNoise(noise: Float32Array | undefined, length: number, who: string): Float32Array {
  if (!noise) throw new SchedulerError(`${who} is stochastic: step() needs variance noise`);
  if (noise.length !== length) throw new SchedulerError(`${who}: noise has ${noise.length} values, the sample ${length}`);
  return noise;
}

export function checkSameLength(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) throw new SchedulerError(`${what}: lengths differ (${a.length} vs ${b.length})`);
}

/** Base for alpha-bar-indexed schedulers (DDPM, DDIM): integer timesteps, addNoise by q(x_t | x_0). */
export abstract class AlphaScheduler implements Scheduler {
  readonly alphasCumprod: Float64Array;
  readonly initNoiseSigma: number = 1;
  abstract readonly stochastic: boolean;
  protected numInferenceSteps = 0;
  private _timesteps: number[] | null = null;

  constructor(readonly config: Readonly<SchedulerConfig>) {
    this.alphasCumprod = alphasCumprod(makeBetas(config.schedule));
  }

  get timesteps(): readonly number[] {
    if (!this._timesteps) throw new SchedulerError("call setTimesteps() before using the scheduler");
    return this._timesteps;
  }

  setTimesteps(n: number): void {
    checkStepCount(n, this.config.schedule.trainSteps);
    this.numInferenceSteps = n;
    this._timesteps = spacedTimesteps(this.config.spacing ?? "leading", n, this.config.schedule.trainSteps, this.config.stepsOffset).map(roundHalfEven);
  }

  setBeginIndex(index: number): void {
    void this.timesteps;
    void index; // stateless per step: the timestep alone says where we are
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** alpha-bar before the start of the chain: 1 (DDPM always; DDIM with set_alpha_to_one). */
  protected finalAlpha = 1;

  /** alpha-bar at t; finalAlpha before the start of the chain. */
  protected alphaAt(t: number): number {
    return t >= 0 ? (this.alphasCumprod[t] ?? Number.NaN) : this.finalAlpha;
  }

  protected previousTimestep(t: number): number {
    return t - Math.floor(this.config.schedule.trainSteps / this.numInferenceSteps);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkSameLength(original, noise, "addNoise");
    // DDPM eq. (4): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    const a = this.alphaAt(Math.round(timestep));
    const sa = Math.sqrt(a);
    const s1a = Math.sqrt(1 - a);
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = sa * (original[i] ?? 0) + s1a * (noise[i] ?? 0);
    return out;
  }

  abstract step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: Float32Array): SchedulerStepResult;
}
