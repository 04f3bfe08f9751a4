// DDIM — Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models".
// Semantics of diffusers' DDIMScheduler with clip_sample false; timestep_spacing (default "leading"),
// steps_offset (default 0) and set_alpha_to_one (default true) from the config.
import {
  AlphaScheduler,
  checkSameLength,
  requireNoise,
  type SchedulerConfig,
  type SchedulerStepResult,
} from "./common.ts";

export interface DDIMConfig extends SchedulerConfig {
  /** 0: deterministic DDIM; 1: DDPM-like ancestral sampling (eq. (16)). */
  eta?: number;
}

export class DDIMScheduler extends AlphaScheduler {
  readonly stochastic: boolean;
  readonly eta: number;

  constructor(config: Readonly<DDIMConfig>) {
    super(config);
    this.eta = config.eta ?? 0;
    this.stochastic = this.eta > 0;
    // set_alpha_to_one false (Stable Diffusion 1.x): the last step lands on alpha-bar_0, not on the clean sample
    this.finalAlpha = config.setAlphaToOne === false ? (this.alphasCumprod[0] ?? 1) : 1;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: Float32Array): SchedulerStepResult {
    void this.timesteps;
    checkSameLength(modelOutput, sample, "DDIM step");
    // 1. previous timestep and alphas (alpha-bar in the paper's notation is "alpha")
    const prevT = this.previousTimestep(timestep);
    const aT = this.alphaAt(timestep);
    const aPrev = this.alphaAt(prevT);
    // 2. sigma_t, formula (16): eta * sqrt((1 - a_prev)/(1 - a_t)) * sqrt(1 - a_t/a_prev)
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = this.eta * Math.sqrt(variance);
    const variation = std > 0 ? requireNoise(noise, sample.length, "DDIM with eta > 0") : null;
    // 3. coefficients of formula (12): x_{t-1} = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z
    const cX0 = Math.sqrt(aPrev);
    const cDir = Math.sqrt(1 - aPrev - std * std);
    const prevSample = new Float32Array(sample.length);
    const predOriginal = new Float32Array(sample.length);
    const sa = Math.sqrt(aT);
    const s1a = Math.sqrt(1 - aT);
    const isEpsilon = this.config.prediction === "epsilon";
    for (let i = 0; i < sample.length; i++) {
      // 4. predicted x0 and epsilon, formula (12)'s "predicted x0" term (see predictX0Eps)
      const m = modelOutput[i] ?? 0;
      const x = sample[i] ?? 0;
      const x0 = isEpsilon ? (x - s1a * m) / sa : sa * x - s1a * m;
      const eps = isEpsilon ? m : sa * m + s1a * x;
      predOriginal[i] = x0;
      let prev = cX0 * x0 + cDir * eps;
      if (variation) prev += std * (variation[i] ?? 0);
      prevSample[i] = prev;
    }
    return { prevSample, predOriginal };
  }
}
