// A diffusers scheduler_config.json -> one of RareForge's samplers (by name) and its options. The class picks the default
// sampler; the training schedule, prediction type, timestep spacing and steps_offset apply to any sampler the
// request picks (diffusers' `Scheduler.from_config(pipe.scheduler.config)` does the same when swapping).
import { z } from "zod";
import { TIMESTEP_SPACINGS, type NoiseSchedule, type PredictionType, type TimestepSpacing } from "../manifest.ts";

/** The sampler names (diffusion's SAMPLERS) the mapped classes run as. */
type SamplerName = "ddim" | "ddpm" | "euler" | "euler-ancestral" | "dpmpp-2m";

/**
 * diffusers class -> sampler. PNDMScheduler (Stable Diffusion 1.x's default) runs as DDIM: PNDM's PLMS mode
 * (skip_prk_steps) feeds a linear-multistep combination of past epsilons into the transfer function phi, and phi
 * is DDIM's eta = 0 update on the same "leading" + steps_offset grid; DDIM is that update with the current epsilon
 * alone (first order instead of fourth), so it keeps the timesteps, the noise and the final alpha of the export.
 */
export const SCHEDULER_CLASSES = {
  DDIMScheduler: "ddim",
  PNDMScheduler: "ddim",
  DDPMScheduler: "ddpm",
  EulerDiscreteScheduler: "euler",
  EulerAncestralDiscreteScheduler: "euler-ancestral",
  DPMSolverMultistepScheduler: "dpmpp-2m",
} as const satisfies Record<string, SamplerName>;
export type SchedulerClassName = keyof typeof SCHEDULER_CLASSES;

const BETA_SCHEDULES = { linear: "linear", scaled_linear: "scaled_linear", squaredcos_cap_v2: "cosine" } as const;
const PREDICTIONS = { epsilon: "epsilon", v_prediction: "v" } as const;

/** Keys whose value does not change the arithmetic of the mapped schedulers (or that only matter to a class we do not run). */
const IGNORED_KEYS = ["_class_name", "_diffusers_version", "skip_prk_steps", "clip_sample_range", "sample_max_value", "dynamic_thresholding_ratio", "variance_type", "lower_order_final", "interpolation_type", "timestep_type", "solver_type"] as const;
/** Keys that are accepted only at the value the mapped schedulers implement. */
const FIXED_VALUES: Record<string, unknown[]> = {
  clip_sample: [false],
  thresholding: [false],
  trained_betas: [null],
  rescale_betas_zero_snr: [false],
  use_karras_sigmas: [false, null],
  use_exponential_sigmas: [false, null],
  use_beta_sigmas: [false, null],
  euler_at_final: [false],
  algorithm_type: ["dpmsolver++"],
  solver_order: [2],
  final_sigmas_type: ["zero"],
};

export class SchedulerConfigError extends Error {
  override readonly name = "SchedulerConfigError";
}

/** What the pipeline needs from scheduler_config.json. */
export interface OptimumSchedulerSettings {
  className: SchedulerClassName;
  /** The sampler the config's class maps to (the model's default sampler). */
  sampler: SamplerName;
  schedule: NoiseSchedule;
  prediction: PredictionType;
  spacing: TimestepSpacing;
  stepsOffset: number;
  setAlphaToOne: boolean;
}

const oneOf = <T extends Record<string, string>>(map: T, what: string) =>
  z.string().refine((v) => v in map, { error: (issue) => `unknown ${what} ${JSON.stringify(issue.input)}; allowed: ${Object.keys(map).join(", ")}` });

const configSchema = z.object({
  _class_name: oneOf(SCHEDULER_CLASSES, "scheduler class"),
  num_train_timesteps: z.number().int().min(1).max(100_000).default(1000),
  beta_start: z.number().positive().default(0.0001),
  beta_end: z.number().positive().default(0.02),
  beta_schedule: oneOf(BETA_SCHEDULES, "beta_schedule").default("linear"),
  prediction_type: oneOf(PREDICTIONS, "prediction_type").default("epsilon"),
  timestep_spacing: z.enum(TIMESTEP_SPACINGS, { error: (issue) => `unknown timestep_spacing ${JSON.stringify(issue.input)}; allowed: ${TIMESTEP_SPACINGS.join(", ")}` }).optional(),
  steps_offset: z.number().int().min(0).max(100).default(0),
  set_alpha_to_one: z.boolean().default(true),
});

/** Parses scheduler_config.json's content; a class, value or key the runtime cannot honour is refused with the allowed ones. */
export function parseSchedulerConfig(json: unknown): OptimumSchedulerSettings {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new SchedulerConfigError("scheduler_config.json must be a JSON object");
  const record = json as Record<string, unknown>;
  const known = new Set<string>([...Object.keys(configSchema.shape), ...IGNORED_KEYS, ...Object.keys(FIXED_VALUES)]);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (!known.has(key)) problems.push(`unknown option "${key}"; known: ${[...known].sort().join(", ")}`);
    const allowed = FIXED_VALUES[key];
    if (allowed && !allowed.some((a) => a === value)) problems.push(`${key} ${JSON.stringify(value)} is not supported; allowed: ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
  }
  const parsed = configSchema.safeParse(record);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`));
  if (problems.length > 0 || !parsed.success) throw new SchedulerConfigError(`scheduler_config.json: ${problems.join("; ")}`);
  const c = parsed.data;
  const className = c._class_name as SchedulerClassName;
  const sampler = SCHEDULER_CLASSES[className];
  return {
    className,
    sampler,
    schedule: { kind: BETA_SCHEDULES[c.beta_schedule as keyof typeof BETA_SCHEDULES], trainSteps: c.num_train_timesteps, betaStart: c.beta_start, betaEnd: c.beta_end },
    prediction: PREDICTIONS[c.prediction_type as keyof typeof PREDICTIONS],
    // diffusers' defaults per class: "leading" for DDPM/DDIM/PNDM, "linspace" for the sigma-space solvers
    spacing: c.timestep_spacing ?? (sampler === "ddim" || sampler === "ddpm" ? "leading" : "linspace"),
    stepsOffset: c.steps_offset,
    setAlphaToOne: c.set_alpha_to_one,
  };
}
