// DDPM ancestral sampling — Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models".
// Semantics of diffusers' DDPMScheduler with variance_type "fixed_small", clip_sample false, "leading" spacing.
import { AlphaScheduler, checkSameLength, requireNoise, type SchedulerStepResult } from "./common.ts";

export class DDPMScheduler extends AlphaScheduler {
  readonly stochastic = true;

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: Float32Array): SchedulerStepResult {
    void this.timesteps;
    checkSameLength(modelOutput, sample, "DDPM step");
    // 1. alphas: a_t = alpha-bar_t, alpha_t = a_t / a_prev, beta_t = 1 - alpha_t (over the skipped span)
    const aT = this.alphaAt(timestep);
    const aPrev = this.alphaAt(this.previousTimestep(timestep));
    const alphaT = aT / aPrev;
    const betaT = 1 - alphaT;
    // 2. posterior mean coefficients, formula (7): mu~ = sqrt(a_prev) beta_t/(1-a_t) x0 + sqrt(alpha_t)(1-a_prev)/(1-a_t) x_t
    const cX0 = (Math.sqrt(aPrev) * betaT) / (1 - aT);
    const cXt = (Math.sqrt(alphaT) * (1 - aPrev)) / (1 - aT);
    // 3. posterior variance beta~_t = (1-a_prev)/(1-a_t) beta_t, formula (7); no noise at t = 0
    const variance = Math.max(((1 - aPrev) / (1 - aT)) * betaT, 1e-20);
    const variation = timestep > 0 ? requireNoise(noise, sample.length, "DDPM") : null;
    const std = Math.sqrt(variance);
    const prevSample = new Float32Array(sample.length);
    const predOriginal = new Float32Array(sample.length);
    const sa = Math.sqrt(aT);
    const s1a = Math.sqrt(1 - aT);
    const isEpsilon = this.config.prediction === "epsilon";
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i] ?? 0;
      const m = modelOutput[i] ?? 0;
      // 4. predicted x0, formula (15) (see predictX0Eps)
      const x0 = isEpsilon ? (x - s1a * m) / sa : sa * x - s1a * m;
      predOriginal[i] = x0;
      let prev = cX0 * x0 + cXt * x;
      if (variation) prev += std * (variation[i] ?? 0);
      prevSample[i] = prev;
    }
    return { prevSample, predOriginal };
  }
}
