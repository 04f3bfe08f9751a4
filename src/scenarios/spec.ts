// The scenario specification: what a rare situation is, as data. Validated with zod; every error names
// the path of the bad field and, for closed choices, the allowed values.
import { z } from "zod";
import { PromptTemplateError, templateFields } from "../models/index.ts";

export const DOMAINS = ["automotive", "medical"] as const;
export type Domain = (typeof DOMAINS)[number];

export const DISTRIBUTION_KINDS = ["fixed", "choice", "uniform", "truncatedNormal", "integer", "sweep", "halton", "scaled", "given"] as const;
export type DistributionKind = (typeof DISTRIBUTION_KINDS)[number];

/**
 * Bounds of the free-text and list fields: a spec is a few hundred bytes of data, and these keep one request
 * from storing megabytes in every version row (the library's largest description is under 100 characters).
 */
export const SPEC_LIMITS = {
  nameLength: 80,
  modelLength: 80,
  descriptionLength: 2000,
  tagLength: 40,
  tags: 32,
  parameterNameLength: 64,
  parameters: 64,
  valueLength: 200,
  values: 1000,
  expectations: 32,
  noteLength: 500,
} as const;

const atMost = (limit: number, what: string) => `${what} may have at most ${limit} characters`;

const parameterValue = z.union([z.string().min(1).max(SPEC_LIMITS.valueLength, atMost(SPEC_LIMITS.valueLength, "a value")), z.number().finite()]);
export type ParameterValue = z.infer<typeof parameterValue>;

const fixed = z.strictObject({ kind: z.literal("fixed"), value: parameterValue });

const choice = z
  .strictObject({
    kind: z.literal("choice"),
    values: z.array(parameterValue).min(1).max(SPEC_LIMITS.values),
    /** Relative weights, one per value; equal when omitted. */
    weights: z.array(z.number().finite().nonnegative()).max(SPEC_LIMITS.values).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.weights === undefined) return;
    if (d.weights.length !== d.values.length)
      ctx.addIssue({ code: "custom", path: ["weights"], message: `needs one weight per value (${d.values.length}), got ${d.weights.length}` });
    else if (!d.weights.some((w) => w > 0)) ctx.addIssue({ code: "custom", path: ["weights"], message: "at least one weight must be positive" });
  });

const range = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject({ min: z.number().finite(), max: z.number().finite(), ...shape });

const rangeOrdered = (d: { min: number; max: number }, ctx: z.RefinementCtx) => {
  if (d.max < d.min) ctx.addIssue({ code: "custom", path: ["max"], message: `max (${d.max}) must be ≥ min (${d.min}): negative range` });
};

const uniform = range({ kind: z.literal("uniform") }).superRefine(rangeOrdered);

const truncatedNormal = range({
  kind: z.literal("truncatedNormal"),
  mean: z.number().finite(),
  std: z.number().finite().positive(),
}).superRefine(rangeOrdered);

const integer = z
  .strictObject({ kind: z.literal("integer"), min: z.number().int(), max: z.number().int() })
  .superRefine(rangeOrdered);

/** A deterministic grid over the listed values; several swept parameters form a Cartesian product. */
const sweep = z.strictObject({ kind: z.literal("sweep"), values: z.array(parameterValue).min(1).max(SPEC_LIMITS.values) });

/** A space-filling Halton sequence over [min, max], one prime base per Halton parameter. */
const halton = range({ kind: z.literal("halton") }).superRefine(rangeOrdered);

const PARAMETER_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * A number that follows another parameter: offset + `of` × a factor drawn uniformly over [min, max], or from
 * a normal truncated to [min, max] when mean and std are given. For quantities whose plausible values follow
 * another's: a box whose width follows its height (`hazardW: { kind: scaled, of: hazardH, min: 0.35, max: 0.5 }`,
 * a pedestrian's width/height), or whose centre sits lower the nearer, i.e. the taller, it is
 * (`hazardCy: { kind: scaled, of: hazardH, offset: 0.45, min: 0.5, max: 1 }`: feet on the ground).
 */
const parameterName = z
  .string()
  .max(SPEC_LIMITS.parameterNameLength, atMost(SPEC_LIMITS.parameterNameLength, "a parameter name"))
  .regex(PARAMETER_NAME, "names a parameter of this scenario");

const scaled = range({
  kind: z.literal("scaled"),
  of: parameterName,
  offset: z.number().finite().default(0),
  mean: z.number().finite().optional(),
  std: z.number().finite().positive().optional(),
})
  .superRefine(rangeOrdered)
  .superRefine((d, ctx) => {
    if ((d.mean === undefined) !== (d.std === undefined))
      ctx.addIssue({ code: "custom", path: [d.mean === undefined ? "mean" : "std"], message: "give mean and std together (a truncated normal factor) or neither (uniform)" });
  });

/** What a case of `given` may draw: a number, from one of these (sweeps and Halton sequences follow the sample index, not another parameter). */
export const GIVEN_CASE_KINDS = ["fixed", "uniform", "truncatedNormal", "scaled"] as const;

const givenCaseObject = z.discriminatedUnion(
  "kind",
  [z.strictObject({ kind: z.literal("fixed"), value: z.number().finite() }), uniform, truncatedNormal, scaled],
  { error: (issue) => (issue.code === "invalid_union" ? `a case of given draws a number: kind ${GIVEN_CASE_KINDS.join(", ")}` : undefined) },
);
const givenCase = z.union([z.number().finite().transform((value) => ({ kind: "fixed" as const, value })), givenCaseObject], {
  error: () => `expected a value or a distribution { kind: ${GIVEN_CASE_KINDS.join(" | ")}, … } (a case of given draws a number)`,
});
export type GivenCase = z.infer<typeof givenCaseObject>;

/**
 * A number whose distribution depends on another parameter's value: one case per value that parameter can draw
 * (it draws from listed values: fixed, choice or sweep). For quantities that differ by class, e.g. a box that is
 * tall for a pedestrian and long for a vehicle (`hazardH: { kind: given, of: hazard, cases: { pedestrian: {…},
 * vehicle: {…} } }`); a case may be `scaled`, so each class keeps its own aspect.
 */
const given = z.strictObject({
  kind: z.literal("given"),
  of: parameterName,
  cases: z
    .record(z.string().min(1).max(SPEC_LIMITS.valueLength, atMost(SPEC_LIMITS.valueLength, "a value")), givenCase)
    .refine((cases) => Object.keys(cases).length >= 1, "give at least one case")
    .refine((cases) => Object.keys(cases).length <= SPEC_LIMITS.values, `at most ${SPEC_LIMITS.values} cases`),
});

const distributionObject = z.discriminatedUnion(
  "kind",
  [fixed, choice, uniform, truncatedNormal, integer, sweep, halton, scaled, given],
  { error: (issue) => (issue.code === "invalid_union" ? `unknown distribution kind; allowed: ${DISTRIBUTION_KINDS.join(", ")}` : undefined) },
);

/** A bare value is shorthand for `{ kind: fixed, value }`. */
export const distributionSchema = z.union([parameterValue.transform((value) => ({ kind: "fixed" as const, value })), distributionObject], {
  error: () => `expected a value or a distribution { kind: ${DISTRIBUTION_KINDS.join(" | ")}, … }`,
});
export type Distribution = z.infer<typeof distributionObject>;

const expectation = z
  .strictObject({
    /** The object class a detector should find (scenario vocabulary: pedestrian, animal, tumour…). */
    class: z.string().min(1).max(SPEC_LIMITS.valueLength, atMost(SPEC_LIMITS.valueLength, "a class")).optional(),
    /** Or: the class is whatever this parameter draws (e.g. `hazard`). */
    classFrom: z.string().min(1).max(SPEC_LIMITS.parameterNameLength, atMost(SPEC_LIMITS.parameterNameLength, "a parameter name")).optional(),
    minCount: z.number().int().positive().default(1),
    note: z.string().max(SPEC_LIMITS.noteLength, atMost(SPEC_LIMITS.noteLength, "a note")).optional(),
  })
  .superRefine((e, ctx) => {
    if ((e.class === undefined) === (e.classFrom === undefined))
      ctx.addIssue({ code: "custom", path: ["class"], message: "give exactly one of class or classFrom" });
  });

/** Whether a distribution draws numbers only. */
function isNumeric(d: z.infer<typeof distributionObject>): boolean {
  if (d.kind === "fixed") return typeof d.value === "number";
  if (d.kind === "choice" || d.kind === "sweep") return d.values.every((v) => typeof v === "number");
  return true;
}

/** Whether a distribution's value follows another parameter's through a factor (scaled, or given with a scaled case). */
function isScaled(d: z.infer<typeof distributionObject>): boolean {
  return d.kind === "scaled" || (d.kind === "given" && Object.values(d.cases).some((c) => c.kind === "scaled"));
}

/**
 * The values a distribution over listed values can draw (a zero-weight choice never draws its value), or null
 * for any other kind.
 */
export function drawableValues(d: z.infer<typeof distributionObject>): ParameterValue[] | null {
  switch (d.kind) {
    case "fixed":
      return [d.value];
    case "choice":
      return d.values.filter((_, i) => (d.weights?.[i] ?? 1) > 0);
    case "sweep":
      return d.values;
    default:
      return null;
  }
}

type Parameters = Record<string, z.infer<typeof distributionObject>>;

/** Why `of` cannot be the base of a scaled value, or null. */
function scaleBaseProblem(of: string, parameters: Parameters): string | null {
  const base = parameters[of];
  if (base === undefined) return `names no parameter; parameters: ${Object.keys(parameters).join(", ")}`;
  if (isScaled(base)) return `${of} is itself scaled; scale by a parameter that is drawn directly`;
  if (!isNumeric(base)) return `${of} does not draw numbers`;
  return null;
}

/** The issues of a given distribution: `of` draws listed values, and there is one case for each value it can draw. */
function givenIssues(name: string, d: Extract<z.infer<typeof distributionObject>, { kind: "given" }>, parameters: Parameters) {
  const issues: { path: PropertyKey[]; message: string }[] = [];
  const base = parameters[d.of];
  const values = base === undefined ? null : drawableValues(base);
  if (base === undefined) issues.push({ path: ["of"], message: `names no parameter; parameters: ${Object.keys(parameters).join(", ")}` });
  else if (values === null) issues.push({ path: ["of"], message: `${d.of} must draw listed values (fixed, choice or sweep) for given to pick a case` });
  else {
    const listed = base.kind === "fixed" ? [base.value] : "values" in base ? base.values : [];
    for (const value of values)
      if (!(String(value) in d.cases)) issues.push({ path: ["cases"], message: `no case for ${d.of} "${value}"; every value ${d.of} draws needs one` });
    for (const key of Object.keys(d.cases))
      if (!listed.some((v) => String(v) === key)) issues.push({ path: ["cases", key], message: `${d.of} never draws "${key}"; its values: ${listed.join(", ")}` });
  }
  for (const [key, c] of Object.entries(d.cases)) {
    if (c.kind !== "scaled") continue;
    const problem = c.of === name ? `${name} cannot scale itself` : scaleBaseProblem(c.of, parameters);
    if (problem) issues.push({ path: ["cases", key, "of"], message: problem });
  }
  return issues;
}

/**
 * A scenario whose samples are a user's own camera frames with a hazard inserted: the reference set whose frames
 * are the backgrounds (one drawn per sample from (seed, index)), and which of the scenario's parameters place the
 * hazard — a box in frame pixels, or a placement on the road (distance in metres and a lateral offset in metres or
 * the contact point's column) turned into a box by the frame's camera. These parameters are drawn like any other
 * (so reports bin them and searches move them); the model's own box fields are set by the insertion.
 */
const backgroundSchema = z
  .strictObject({
    referenceSet: z.string().min(1).max(SPEC_LIMITS.nameLength, atMost(SPEC_LIMITS.nameLength, "a reference set name")),
    /** Width in frame pixels of the blend band around the box (default 3). */
    feather: z.number().int().min(0).max(64).optional(),
    box: z.strictObject({ x: parameterName, y: parameterName, width: parameterName, height: parameterName }).optional(),
    placement: z.strictObject({ distance: parameterName, lateral: parameterName.optional(), column: parameterName.optional() }).optional(),
  })
  .superRefine((b, ctx) => {
    if ((b.box === undefined) === (b.placement === undefined)) ctx.addIssue({ code: "custom", path: ["box"], message: "give exactly one of box (frame pixels) and placement (on the road)" });
    if (b.placement && (b.placement.lateral === undefined) === (b.placement.column === undefined))
      ctx.addIssue({ code: "custom", path: ["placement", "lateral"], message: "give exactly one of lateral (metres from the camera's axis) and column (the contact point's frame column)" });
  });
export type BackgroundSpec = z.infer<typeof backgroundSchema>;

/** The sample parameter holding the drawn frame (its reference upload's id) of a background scenario. */
export const BACKGROUND_FRAME_PARAMETER = "frame";

/** The parameters a background names, by role (box: x, y, width, height; placement: distance, lateral or column). */
export function backgroundParameters(background: BackgroundSpec): Record<string, string> {
  const named = background.box ?? background.placement ?? {};
  return Object.fromEntries(Object.entries(named).filter(([, name]) => name !== undefined)) as Record<string, string>;
}

export const scenarioSpecSchema = z
  .strictObject({
    name: z
      .string()
      .min(3)
      .max(SPEC_LIMITS.nameLength, atMost(SPEC_LIMITS.nameLength, "a name"))
      .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "lowercase words joined by hyphens, e.g. deer-crossing-night-fog"),
    domain: z.enum(DOMAINS, { error: () => `domain must be one of: ${DOMAINS.join(", ")}` }),
    model: z.string().min(1).max(SPEC_LIMITS.modelLength, atMost(SPEC_LIMITS.modelLength, "a model name")),
    description: z.string().max(SPEC_LIMITS.descriptionLength, atMost(SPEC_LIMITS.descriptionLength, "a description")).default(""),
    tags: z
      .array(z.string().min(1).max(SPEC_LIMITS.tagLength, atMost(SPEC_LIMITS.tagLength, "a tag")))
      .max(SPEC_LIMITS.tags, `at most ${SPEC_LIMITS.tags} tags`)
      .default([]),
    parameters: z
      .record(
        z.string().max(SPEC_LIMITS.parameterNameLength, atMost(SPEC_LIMITS.parameterNameLength, "a parameter name")).regex(PARAMETER_NAME, "parameter names are identifiers"),
        distributionSchema,
      )
      .refine((parameters) => Object.keys(parameters).length <= SPEC_LIMITS.parameters, `at most ${SPEC_LIMITS.parameters} parameters`),
    expectations: z.array(expectation).max(SPEC_LIMITS.expectations, `at most ${SPEC_LIMITS.expectations} expectations`).default([]),
    /** Text-conditioned models (Optimum exports): the scenario's own prompt template, instead of the package's. */
    prompt: z
      .strictObject({
        template: z.string().min(1).max(SPEC_LIMITS.descriptionLength, atMost(SPEC_LIMITS.descriptionLength, "a prompt template")),
        negative: z.string().max(SPEC_LIMITS.descriptionLength, atMost(SPEC_LIMITS.descriptionLength, "a negative prompt")).default(""),
      })
      .optional(),
    background: backgroundSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    // every {field} of the templates is a parameter of this scenario (its values are checked against the model's)
    for (const key of ["template", "negative"] as const) {
      const text = spec.prompt?.[key];
      if (!text) continue;
      try {
        for (const field of templateFields(text))
          if (!(field in spec.parameters))
            ctx.addIssue({ code: "custom", path: ["prompt", key], message: `uses {${field}}, which is not a parameter; parameters: ${Object.keys(spec.parameters).join(", ")}` });
      } catch (error) {
        if (!(error instanceof PromptTemplateError)) throw error;
        ctx.addIssue({ code: "custom", path: ["prompt", key], message: error.message });
      }
    }
    if (spec.background) {
      for (const [role, name] of Object.entries(backgroundParameters(spec.background))) {
        const d = spec.parameters[name];
        const path = ["background", spec.background.box ? "box" : "placement", role];
        if (!d) ctx.addIssue({ code: "custom", path, message: `names no parameter; parameters: ${Object.keys(spec.parameters).join(", ")}` });
        else if (!isNumeric(d) || (d.kind === "given" && Object.values(d.cases).length === 0)) ctx.addIssue({ code: "custom", path, message: `${name} must draw numbers` });
      }
      if (BACKGROUND_FRAME_PARAMETER in spec.parameters)
        ctx.addIssue({ code: "custom", path: ["parameters", BACKGROUND_FRAME_PARAMETER], message: `"${BACKGROUND_FRAME_PARAMETER}" holds the drawn background frame of a scenario with a background; rename the parameter` });
    }
    for (const [name, d] of Object.entries(spec.parameters)) {
      if (d.kind === "scaled") {
        const problem = scaleBaseProblem(d.of, spec.parameters);
        if (problem) ctx.addIssue({ code: "custom", path: ["parameters", name, "of"], message: problem });
      } else if (d.kind === "given") {
        for (const { path, message } of givenIssues(name, d, spec.parameters)) ctx.addIssue({ code: "custom", path: ["parameters", name, ...path], message });
      }
    }
    spec.expectations.forEach((e, i) => {
      if (e.classFrom !== undefined && !(e.classFrom in spec.parameters))
        ctx.addIssue({
          code: "custom",
          path: ["expectations", i, "classFrom"],
          message: `names no parameter; parameters: ${Object.keys(spec.parameters).join(", ")}`,
        });
    });
  });

export type ScenarioSpec = z.infer<typeof scenarioSpecSchema>;
/** What a user writes (defaults not yet applied). */
export type ScenarioSpecInput = z.input<typeof scenarioSpecSchema>;

export interface SpecIssue {
  /** Dotted path of the bad field, e.g. `parameters.weather.kind`. */
  path: string;
  message: string;
}

export class ScenarioValidationError extends Error {
  override name = "ScenarioValidationError";
  constructor(readonly issues: SpecIssue[]) {
    super(`invalid scenario: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
  }
}

function flattenIssues(error: z.ZodError): SpecIssue[] {
  const out: SpecIssue[] = [];
  const visit = (issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]) => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) out.push({ path: [...path, key].join("."), message: `unknown field "${key}"` });
      } else if (issue.code === "invalid_union" && issue.errors.length > 0 && issue.message.startsWith("expected a value or")) {
        // Report the object branch's problems: they are specific (the primitive branch only says "not a value").
        const objectBranch = issue.errors[issue.errors.length - 1] ?? [];
        visit(objectBranch, path);
      } else {
        out.push({ path: path.join("."), message: issue.message });
      }
    }
  };
  visit(error.issues, []);
  return out;
}

export type SpecParseResult = { ok: true; spec: ScenarioSpec } | { ok: false; issues: SpecIssue[] };

export function parseScenarioSpec(input: unknown): SpecParseResult {
  const parsed = scenarioSpecSchema.safeParse(input);
  return parsed.success ? { ok: true, spec: parsed.data } : { ok: false, issues: flattenIssues(parsed.error) };
}

/** Parses or throws ScenarioValidationError. */
export function validateScenarioSpec(input: unknown): ScenarioSpec {
  const result = parseScenarioSpec(input);
  if (!result.ok) throw new ScenarioValidationError(result.issues);
  return result.spec;
}
