// Sampling settings: one schema, one set of bounds, for every entry point (GraphQL, CLI, jobs, failure
// searches, pathology insertion and the pipeline itself). Settings a caller leaves out take the model
// manifest's `defaults`, then FALLBACK_SAMPLING — or, with quality "fast", the manifest's `fast` settings
// (the cheapest sampler/steps its benchmark found within 2 points of the default's judged accuracy,
// bench/throughput). A sampler, steps or guidance the caller gives still wins over either: quality only
// chooses where the absent ones come from, and the resolved quality is recorded with the settings.
import { z } from "zod";
import { ValidationError, type FieldIssue } from "../errors.ts";
import type { ModelManifest } from "../models/index.ts";
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from "../runtime/index.ts";
import { SAMPLERS, type SamplerName } from "./schedulers/index.ts";

export const MAX_STEPS = 1000;
/** Classifier-free guidance scales accepted anywhere (0 = unconditional, 1 = conditional alone). */
export const GUIDANCE_RANGE = [0, 30] as const;
/** Samples denoised together: a hard ceiling; a service may set a lower one (RAREFORGE_MAX_BATCH_SIZE). */
export const MAX_BATCH_SIZE = 1024;
export const DEFAULT_BATCH_SIZE = 8;
/** Sampling for a model whose manifest has no defaults. */
export const FALLBACK_SAMPLING = { sampler: "ddim", steps: 20, guidance: 3 } as const satisfies { sampler: SamplerName; steps: number; guidance: number };
/** Where absent sampler/steps/guidance come from: the manifest's `defaults` or its `fast` settings. */
export const SAMPLING_QUALITIES = ["default", "fast"] as const;
export type SamplingQuality = (typeof SAMPLING_QUALITIES)[number];

const integerIn = (name: string, min: number, max: number) =>
  z.number({ error: `${name} must be a number` }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { error: (issue) => `${name} must be an integer in [${min}, ${max}], got ${String(issue.input)}` });

/** The settings of one sampling run, every field required and within its bounds. */
export const samplingSettingsSchema = z.object({
  sampler: z.enum(SAMPLERS, { error: (issue) => `unknown sampler "${String(issue.input)}"; allowed: ${SAMPLERS.join(", ")}` }),
  steps: integerIn("steps", 1, MAX_STEPS),
  guidance: z
    .number({ error: "guidance must be a number" })
    .refine((v) => Number.isFinite(v) && v >= GUIDANCE_RANGE[0] && v <= GUIDANCE_RANGE[1], { error: (issue) => `guidance must be in [${GUIDANCE_RANGE[0]}, ${GUIDANCE_RANGE[1]}], got ${String(issue.input)}` }),
  /** DDIM only: 0 deterministic, up to 1 (DDPM-like). */
  eta: z
    .number()
    .refine((v) => Number.isFinite(v) && v >= 0 && v <= 1, { error: (issue) => `eta must be in [0, 1], got ${String(issue.input)}` })
    .optional(),
  seed: integerIn("seed", 0, Number.MAX_SAFE_INTEGER),
  executionProvider: z.enum(EXECUTION_PROVIDERS, { error: (issue) => `unknown execution provider "${String(issue.input)}"; allowed: ${EXECUTION_PROVIDERS.join(", ")}` }),
  batchSize: integerIn("batchSize", 1, MAX_BATCH_SIZE),
  /** Where the absent settings came from (resolveSamplingSettings always fills it; "default" when not asked). */
  quality: z.enum(SAMPLING_QUALITIES, { error: (issue) => `unknown quality "${String(issue.input)}"; allowed: ${SAMPLING_QUALITIES.join(", ")}` }).optional(),
});

export type SamplingSettings = z.infer<typeof samplingSettingsSchema>;

/** Settings as callers give them: any field may be absent (undefined or GraphQL's null). */
export type SamplingSettingsInput = { [K in keyof SamplingSettings]?: SamplingSettings[K] | string | number | null };

export interface SamplingContext {
  /** The model the settings are for: its manifest defaults fill absent fields, its schedule bounds steps. */
  manifest?: Pick<ModelManifest, "defaults" | "denoiser"> & Partial<Pick<ModelManifest, "fast" | "name">>;
  /** Provider when none is given (the service's RAREFORGE_EP). */
  executionProvider?: ExecutionProviderName;
  /** A lower batch-size ceiling than MAX_BATCH_SIZE (the service's RAREFORGE_MAX_BATCH_SIZE). */
  maxBatchSize?: number;
}

/** The model's own sampling defaults, then FALLBACK_SAMPLING for what its manifest leaves out. */
export function modelSamplingDefaults(manifest: Pick<ModelManifest, "defaults"> | undefined): { sampler: string; steps: number; guidance: number } {
  const defaults = manifest?.defaults ?? {};
  return { sampler: defaults.sampler ?? FALLBACK_SAMPLING.sampler, steps: defaults.steps ?? FALLBACK_SAMPLING.steps, guidance: defaults.guidance ?? FALLBACK_SAMPLING.guidance };
}

/** How a refusal names the model: by its manifest name when the context has one. */
const modelLabel = (manifest: Partial<Pick<ModelManifest, "name">> | undefined) => (manifest?.name ? `model "${manifest.name}"` : "this model");

/**
 * A denoiser with guidance distilled into it (model.json `denoiser.distilledGuidance`) samples at that scale only:
 * the issue for any other guidance, else null.
 */
export function distilledGuidanceIssue(manifest: Pick<ModelManifest, "denoiser"> & Partial<Pick<ModelManifest, "name">>, guidance: number): FieldIssue | null {
  const distilled = manifest.denoiser.distilledGuidance;
  if (distilled === undefined || guidance === distilled) return null;
  return { path: "guidance", message: `${modelLabel(manifest)} has guidance ${distilled} distilled into its denoiser (one pass per step): guidance must be ${distilled} or left out, got ${guidance}` };
}

/**
 * Fills absent settings from the model's defaults and checks all of them; throws a ValidationError that
 * names every bad field. The model's schedule also bounds steps (a schedule of 100 training steps
 * cannot be sampled in 200).
 */
export function resolveSamplingSettings(input: SamplingSettingsInput, context: SamplingContext = {}): SamplingSettings {
  const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null && value !== undefined));
  const quality = given.quality;
  const fast = quality === "fast" ? context.manifest?.fast : undefined;
  if (quality === "fast" && !fast) {
    throw new ValidationError([{ path: "quality", message: `${modelLabel(context.manifest)} has no fast sampling settings (model.json \`fast\`); ask for quality default` }], "invalid sampling settings");
  }
  const parsed = samplingSettingsSchema.safeParse({
    ...modelSamplingDefaults(context.manifest),
    ...(fast ? { sampler: fast.sampler, steps: fast.steps, guidance: fast.guidance } : {}),
    quality: "default",
    seed: 0,
    executionProvider: context.executionProvider ?? "cpu",
    batchSize: DEFAULT_BATCH_SIZE,
    ...given,
  });
  const issues: FieldIssue[] = parsed.success ? [] : parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
  if (parsed.success) {
    const trainSteps = context.manifest?.denoiser.schedule.trainSteps;
    if (trainSteps !== undefined && parsed.data.steps > trainSteps)
      issues.push({ path: "steps", message: `steps must be an integer in [1, ${Math.min(MAX_STEPS, trainSteps)}] for this model's schedule, got ${parsed.data.steps}` });
    const distilled = context.manifest ? distilledGuidanceIssue(context.manifest, parsed.data.guidance) : null;
    if (distilled) issues.push(distilled);
    const maxBatchSize = context.maxBatchSize ?? MAX_BATCH_SIZE;
    if (parsed.data.batchSize > maxBatchSize) issues.push({ path: "batchSize", message: `batchSize must be an integer in [1, ${maxBatchSize}], got ${parsed.data.batchSize}` });
  }
  if (issues.length > 0 || !parsed.success) throw new ValidationError(issues, "invalid sampling settings");
  return parsed.data;
}
