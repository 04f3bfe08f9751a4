// The suite definition: which scenarios a detector is judged on, with how many samples from which seed, and
// the criteria it must meet. Validated with zod; every issue names the path of the bad field. Sampling
// settings are checked against the scenario's model by the service (diffusion's rule, not a copy here).
import { z } from "zod";
import { SAMPLING_QUALITIES } from "../diffusion/index.ts";
import { SPEC_LIMITS } from "../scenarios/index.ts";

export const SUITE_LIMITS = {
  nameLength: 80,
  descriptionLength: 2000,
  scenarios: 64,
  conditions: 32,
  /** Samples per scenario. */
  samples: 10_000,
} as const;

/** The criteria kinds, in report order. */
export const CRITERION_KINDS = ["minValidShare", "maxMissRate", "maxRegression"] as const;
export type CriterionKind = (typeof CRITERION_KINDS)[number];

const parameterValue = z.union([z.string().min(1).max(SPEC_LIMITS.valueLength), z.number().finite()]);
const valueRange = z
  .strictObject({ min: z.number().finite().optional(), max: z.number().finite().optional() })
  .refine((r) => r.min !== undefined || r.max !== undefined, "a range needs min, max or both")
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, "min must be <= max");
/** A sample is in the condition when each named parameter equals the value or lies in [min, max]. */
const condition = z
  .record(z.string().min(1).max(SPEC_LIMITS.parameterNameLength), z.union([parameterValue, valueRange]))
  .refine((c) => Object.keys(c).length > 0, "a condition names at least one parameter");
export type SuiteCondition = z.infer<typeof condition>;

const share = z.number().min(0).max(1);

const conditionCriteria = z
  .strictObject({
    where: condition,
    /** The upper end of the miss rate's Clopper-Pearson interval on the samples in the condition must not exceed it. */
    maxMissRate: share.optional(),
    /** Miss-rate increase over the baseline tolerated in the condition (default: the scenario's maxRegression). */
    maxRegression: share.optional(),
  })
  .refine((c) => c.maxMissRate !== undefined || c.maxRegression !== undefined, "a condition needs maxMissRate, maxRegression or both");

const criteria = z.strictObject({
  maxMissRate: share.optional(),
  /** Valid samples (the realism gate let them through) as a share of the generated ones. */
  minValidShare: share.optional(),
  /**
   * Against a baseline detector on the same samples: the run fails when the candidate misses significantly
   * more (exact McNemar, Holm-corrected across the suite) and the miss-rate increase exceeds this.
   */
  maxRegression: share.optional(),
  conditions: z.array(conditionCriteria).max(SUITE_LIMITS.conditions).default([]),
});

const suiteScenario = z.strictObject({
  /** A scenario's name (the library's or one defined through the API). */
  scenario: z.string().min(1).max(SPEC_LIMITS.nameLength),
  samples: z.number().int().min(1).max(SUITE_LIMITS.samples),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Default: the model's manifest defaults. */
  sampler: z.string().min(1).max(40).optional(),
  steps: z.number().int().optional(),
  guidance: z.number().finite().optional(),
  /** fast: sampler/steps/guidance left out come from the model's `fast` settings (default: the suite's quality, else its defaults). */
  quality: z.enum(SAMPLING_QUALITIES).optional(),
  criteria,
});
export type SuiteScenario = z.infer<typeof suiteScenario>;

export const suiteSpecSchema = z
  .strictObject({
    name: z
      .string()
      .max(SUITE_LIMITS.nameLength)
      .regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, . _ - (starting with a letter or digit)"),
    description: z.string().max(SUITE_LIMITS.descriptionLength).default(""),
    /** Family-wise significance level of the paired regression tests (Holm). */
    alpha: z.number().gt(0).lt(1).default(0.05),
    /** Confidence level of the miss-rate intervals. */
    level: z.number().gt(0).lt(1).default(0.95),
    /** Every scenario's quality unless it names its own: default (the models' `defaults`) or fast (their `fast` settings). */
    quality: z.enum(SAMPLING_QUALITIES).optional(),
    scenarios: z.array(suiteScenario).min(1).max(SUITE_LIMITS.scenarios),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.scenarios.forEach((s, i) => {
      if (seen.has(s.scenario)) ctx.addIssue({ code: "custom", path: ["scenarios", i, "scenario"], message: `scenario "${s.scenario}" appears twice` });
      seen.add(s.scenario);
    });
  });
export type SuiteSpec = z.infer<typeof suiteSpecSchema>;
export type SuiteSpecInput = z.input<typeof suiteSpecSchema>;

export interface SuiteIssue {
  path: string;
  message: string;
}

export function parseSuiteSpec(input: unknown): { ok: true; spec: SuiteSpec } | { ok: false; issues: SuiteIssue[] } {
  const parsed = suiteSpecSchema.safeParse(input);
  if (parsed.success) return { ok: true, spec: parsed.data };
  return { ok: false, issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) };
}

/** Whether a sample's drawn parameters fall in a condition. */
export function inCondition(parameters: Readonly<Record<string, unknown>>, where: SuiteCondition): boolean {
  return Object.entries(where).every(([name, wanted]) => {
    const value = parameters[name];
    if (typeof wanted !== "object") return value === wanted;
    return typeof value === "number" && (wanted.min === undefined || value >= wanted.min) && (wanted.max === undefined || value <= wanted.max);
  });
}

/** `timeOfDay=night, hazardW in [0.1, 0.2]`: a condition as people read it (reports, JUnit names). */
export function describeCondition(where: SuiteCondition): string {
  return Object.entries(where)
    .map(([name, wanted]) =>
      typeof wanted !== "object" ? `${name}=${wanted}` : wanted.min !== undefined && wanted.max !== undefined ? `${name} in [${wanted.min}, ${wanted.max}]` : wanted.min !== undefined ? `${name} >= ${wanted.min}` : `${name} <= ${wanted.max}`,
    )
    .join(", ");
}
