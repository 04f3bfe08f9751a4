import type { NoiseSchedule, PredictionType } from "../../models/index.ts";
import { SchedulerError, type Scheduler, type TimestepSpacing } from "./common.ts";
import { DDIMScheduler } from "./ddim.ts";
import { DDPMScheduler } from "./ddpm.ts";
import { DPMSolverMultistepScheduler } from "./dpmsolver.ts";
import { EulerScheduler } from "./euler.ts";

export const SAMPLERS = ["ddpm", "ddim", "dpmpp-2m", "euler", "euler-ancestral"] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** A sampler's name as a constant, as the GraphQL `Sampler` enum spells it: "dpmpp-2m" -> DPMPP_2M. */
export const samplerConstantName = (sampler: SamplerName) => sampler.toUpperCase().replaceAll("-", "_");

export function parseSampler(value: string): SamplerName {
  if ((SAMPLERS as readonly string[]).includes(value)) return value as SamplerName;
  throw new SchedulerError(`unknown sampler "${value}"; allowed: ${SAMPLERS.join(", ")}`);
}

export interface SchedulerOptions {
  schedule: NoiseSchedule;
  prediction: PredictionType;
  /** DDIM only: 0 deterministic, > 0 adds noise (formula (16)). */
  eta?: number;
  spacing?: TimestepSpacing;
  /** diffusers' steps_offset (added to "leading" timesteps). */
  stepsOffset?: number;
  /** DDIM only: diffusers' set_alpha_to_one (default true). */
  setAlphaToOne?: boolean;
}

export function createScheduler(sampler: SamplerName, options: SchedulerOptions): Scheduler {
  const config = {
    schedule: options.schedule,
    prediction: options.prediction,
    ...(options.spacing ? { spacing: options.spacing } : {}),
    ...(options.stepsOffset ? { stepsOffset: options.stepsOffset } : {}),
  };
  switch (sampler) {
    case "ddpm":
      return new DDPMScheduler(config);
    case "ddim":
      return new DDIMScheduler({ ...config, eta: options.eta ?? 0, ...(options.setAlphaToOne === false ? { setAlphaToOne: false } : {}) });
    case "dpmpp-2m":
      return new DPMSolverMultistepScheduler(config);
    case "euler":
      return new EulerScheduler(config);
    case "euler-ancestral":
      return new EulerScheduler({ ...config, ancestral: true });
    default: {
      const never: never = sampler;
      return parseSampler(String(never)) as never;
    }
  }
}

export {
  SchedulerError,
  TIMESTEP_SPACINGS,
  spacedTimesteps,
  makeBetas,
  alphasCumprod,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerStepResult,
  type TimestepSpacing,
} from "./common.ts";
export { DDIMScheduler, type DDIMConfig } from "./ddim.ts";
export { DDPMScheduler } from "./ddpm.ts";
export { DPMSolverMultistepScheduler } from "./dpmsolver.ts";
export { EulerScheduler, type EulerConfig } from "./euler.ts";
