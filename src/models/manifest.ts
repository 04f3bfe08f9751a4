// The model manifest (models/<name>/model.json), validated with zod: the runtime trusts nothing it does not declare.
// The contract is docs/model-package.md.
import { z } from "zod";

/** A package's name, which is also its directory under the models directory. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase sha256 hex digest");
const fileName = z
  .string()
  .min(1)
  .refine((name) => !name.includes("..") && !name.startsWith("/") && !name.includes("\\"), "a file name inside the package");
const range = z.tuple([z.number(), z.number()]).refine(([lo, hi]) => hi > lo, "range [lo, hi] with hi > lo");

export const IMAGE_FORMATS = ["png-rgb8", "png-gray16", "dicom-gray16"] as const;
export const PREDICTION_TYPES = ["epsilon", "v"] as const;
export const SCHEDULE_KINDS = ["linear", "scaled_linear", "cosine"] as const;
export const TIMESTEP_DTYPES = ["float32", "int64"] as const;
/** How inference timesteps are spread over the training steps (diffusers' timestep_spacing). */
export const TIMESTEP_SPACINGS = ["leading", "linspace", "trailing"] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

export const noiseScheduleSchema = z.object({
  kind: z.enum(SCHEDULE_KINDS),
  trainSteps: z.number().int().min(1).max(100_000),
  betaStart: z.number().positive().optional(),
  betaEnd: z.number().positive().optional(),
});

const categoricalField = z.object({
  name: z.string().min(1),
  kind: z.literal("categorical"),
  values: z.array(z.string()).min(1),
  offset: z.number().int().min(0),
  width: z.number().int().min(1),
});
/**
 * A scalar control's calibration: the model produces something other than the value it is fed, so a request
 * is mapped to the value to feed it. `points` are [requested, encoded] pairs, requested strictly increasing
 * and encoded non-decreasing (a monotone piecewise-linear map), all inside the field's range; training/
 * measures them (`measuredBy`, reproduced by `command`, tables in `report`). `byValue` holds maps per value of
 * a categorical field, for a model whose error depends on it.
 */
const calibrationPoints = z.array(z.tuple([z.number(), z.number()])).min(2);
const calibration = z.object({
  points: calibrationPoints,
  /** Maps measured per value of a categorical field (e.g. per pathology); `points` serves the values without one. */
  byValue: z
    .object({
      field: z.string().min(1),
      points: z.record(z.string(), calibrationPoints),
      /**
       * Per value of `field`, maps measured at several values of another scalar field (`at`, strictly increasing,
       * one map per entry), for a model whose error depends on it too (brain-mri: on the lesion radius). The runtime
       * reads each at the request and interpolates by the sample's value of that field; `points` serves the values
       * without maps here.
       */
      across: z
        .object({
          field: z.string().min(1),
          maps: z.record(z.string(), z.object({ at: z.array(z.number()).min(2), points: z.array(calibrationPoints).min(2) })),
        })
        .optional(),
    })
    .optional(),
  /**
   * The values the map may feed the model, a range holding the field's (default: the field's range). Wider only
   * where the model's response there was measured (`report`): a model that draws more than it is fed at the
   * range's floor reaches faint requests only when fed below it. Requests stay inside the field's range.
   */
  encodedRange: range.optional(),
  /**
   * The sampling the map was measured at. A guided model's response to a scalar depends on the guidance scale
   * (brain-mri's lesion contrast: training/README.md section 14), so a map serves the guidance it was measured at
   * and the manifest's `defaults.guidance` must be that one.
   */
  measuredAt: z
    .object({ sampler: z.string().min(1), steps: z.number().int().min(1), guidance: z.number().min(0) })
    .optional(),
  measuredBy: z.string().min(1),
  command: z.string().min(1),
  report: z.string().optional(),
});
/**
 * Sampling-time feedback on a scalar the model draws with a spread a map cannot narrow (brain-mri's lesion contrast:
 * the map corrects the mean; training/README.md section 18). Kind "circle-contrast": from step fromStep x steps on,
 * the runtime reads the value off each step's x0 estimate with `meter` (ONNX, [N, F] features -> [N] values, the
 * features below) inside the manifest's circle label, and scales the circle's deviation from the median of its
 * surrounding `ring` by (requested / read) ^ strength, clamped to [1 / maxRatio, maxRatio], with a weight of 1
 * inside the circle falling to 0 over `feather` radii past it. The meter is not the critic the realism gate reads.
 * Features, per sample, of the x0 estimate mapped to 0..1 (image.valueRange): the window (samples x samples, bilinear,
 * centre +- halfWidth radii) divided by the ring's median (at least 0.05) minus 1; radius / radiusScale; the ring's
 * median; the one-hot of the class among `classes`; the slice's `tissueQuantiles` (percentiles of the pixels above
 * tissueFloor) divided by the ring's median. training/rareforge_train/served.py applies the same rule.
 */
const scalarFeedback = z.object({
  kind: z.literal("circle-contrast"),
  meter: fileName,
  input: z.string().min(1),
  output: z.string().min(1),
  classes: z.array(z.string().min(1)).min(1),
  /** The classes it holds (default: every one of `classes`, the meter's one-hot, which it reads). */
  holds: z.array(z.string().min(1)).min(1).optional(),
  window: z.object({ samples: z.number().int().min(2), halfWidth: z.number().positive() }),
  ring: range,
  tissueQuantiles: z.array(z.number().min(0).max(100)),
  tissueFloor: z.number(),
  radiusScale: z.number().positive(),
  fromStep: z.number().min(0).max(1),
  strength: z.number().positive().max(1),
  maxRatio: z.number().min(1),
  feather: z.number().positive(),
  measuredBy: z.string().min(1),
  command: z.string().min(1),
  report: z.string().optional(),
});
const scalarField = z.object({
  name: z.string().min(1),
  kind: z.literal("scalar"),
  range,
  offset: z.number().int().min(0),
  width: z.literal(1),
  calibration: calibration.optional(),
  feedback: scalarFeedback.optional(),
});
export const conditionFieldSchema = z.discriminatedUnion("kind", [categoricalField, scalarField]);

/**
 * Per class, the box the training generator draws the class at: width and height (fractions of the image) and
 * aspect (w / h of those fractions). A scenario may only ask for boxes inside all three.
 */
const plausibleBox = z.object({ w: range, h: range, aspect: range });
/**
 * Per class, the lesion geometry the training generator draws: the radius range, and the ellipse the centre
 * lies in (about (cx, cy), half-axes rx − radius and ry − radius: the disk stays in the brain); `foci`
 * describes how many foci are drawn inside the circle (no parameter sets it).
 */
const plausibleCircle = z.object({
  radius: range,
  within: z.object({ cx: z.number(), cy: z.number(), rx: z.number().positive(), ry: z.number().positive() }),
  foci: z
    .tuple([z.number().int().min(1), z.number().int().min(1)])
    .refine(([lo, hi]) => hi >= lo, "foci [lo, hi] with hi >= lo")
    .optional(),
});

const boxLabel = z.object({
  kind: z.literal("box"),
  class: z.string(),
  cx: z.string(),
  cy: z.string(),
  w: z.string(),
  h: z.string(),
  absentWhen: z.array(z.string()).default([]),
  plausible: z.record(z.string(), plausibleBox).optional(),
});
const circleLabel = z.object({
  kind: z.literal("circle"),
  class: z.string(),
  cx: z.string(),
  cy: z.string(),
  radius: z.string(),
  absentWhen: z.array(z.string()).default([]),
  mask: z.boolean().default(false),
  plausible: z.record(z.string(), plausibleCircle).optional(),
});
export const labelRuleSchema = z.discriminatedUnion("kind", [boxLabel, circleLabel]);

/**
 * How a derived package's weights were made from its base's: "qdq-int8-static" quantizes the same function to int8
 * (training/quantize); "guidance-distillation" trains a student whose conditional output alone is the base's
 * classifier-free-guided output (training/distill; the student's `denoiser.distilledGuidance` says at which scale).
 */
export const DERIVATION_METHODS = ["qdq-int8-static", "guidance-distillation"] as const;

/** A package whose weights were derived from another's (quantized or distilled): which base, and how. */
const derivedFrom = z.object({
  name: z.string().regex(PACKAGE_NAME, "lowercase letters, digits and dashes"),
  version: z.string().min(1),
  /** The base package's denoiser file the derivation read: a retrained base makes this package stale. */
  denoiserSha256: sha256Hex,
  method: z.enum(DERIVATION_METHODS),
  calibration: z.string().min(1),
  ranges: z.string().optional(),
  command: z.string().optional(),
});

const manifestObject = z.object({
    schema: z.literal("rareforge.model/1"),
    name: z.string().regex(PACKAGE_NAME, "lowercase letters, digits and dashes"),
    version: z.string().min(1),
    domain: z.enum(["automotive", "medical"]),
    license: z.string().min(1),
    description: z.string().default(""),
    files: z.record(fileName, sha256Hex),
    derivedFrom: derivedFrom.optional(),
    image: z.object({
      width: z.number().int().min(1),
      height: z.number().int().min(1),
      channels: z.union([z.literal(1), z.literal(3)]),
      valueRange: range,
      format: z.enum(IMAGE_FORMATS),
      modality: z.string().optional(),
      storedRange: range.optional(),
    }),
    latent: z
      .object({
        decoder: fileName,
        input: z.string().min(1),
        output: z.string().min(1),
        shape: z.array(z.number().int().min(1)).min(1),
        scalingFactor: z.number().positive(),
      })
      .nullable()
      .default(null),
    denoiser: z.object({
      file: fileName,
      inputs: z.object({ sample: z.string().min(1), timestep: z.string().min(1), condition: z.string().min(1) }),
      output: z.string().min(1),
      timestepDtype: z.enum(TIMESTEP_DTYPES),
      prediction: z.enum(PREDICTION_TYPES),
      schedule: noiseScheduleSchema,
      /**
       * Classifier-free guidance distilled into the denoiser (training/distill/guidance.py): its conditional output
       * alone is the base's guided output at this scale, so sampling runs one pass per step instead of two and
       * accepts no other guidance.
       */
      distilledGuidance: z.number().positive().optional(),
    }),
    condition: z.object({
      width: z.number().int().min(1),
      fields: z.array(conditionFieldSchema).min(1),
      unconditional: z.array(z.number()),
    }),
    labels: z.array(labelRuleSchema).default([]),
    defaults: z
      .object({ sampler: z.string().optional(), steps: z.number().int().optional(), guidance: z.number().optional() })
      .default({}),
    /**
     * Recommended fast sampling (quality FAST): the cheapest sampler/steps the package's throughput benchmark
     * found within 2 points of `defaults` on every field its critic judges; `evidence` says where that was measured.
     */
    fast: z
      .object({ sampler: z.string().min(1), steps: z.number().int().min(1), guidance: z.number(), evidence: z.string().optional() })
      .optional(),
    provenance: z.record(z.string(), z.unknown()).default({}),
    evaluation: z.record(z.string(), z.unknown()).default({}),
  });

export const modelManifestSchema = manifestObject.superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (m.condition.unconditional.length !== m.condition.width) {
      issue(["condition", "unconditional"], `has ${m.condition.unconditional.length} entries, condition.width is ${m.condition.width}`);
    }
    const used = new Array<string | undefined>(m.condition.width).fill(undefined);
    const names = new Set<string>();
    m.condition.fields.forEach((field, i) => {
      if (names.has(field.name)) issue(["condition", "fields", i, "name"], `duplicate field name "${field.name}"`);
      names.add(field.name);
      if (field.kind === "categorical" && field.values.length !== field.width) {
        issue(["condition", "fields", i], `categorical field "${field.name}" has ${field.values.length} values but width ${field.width}`);
      }
      if (field.kind === "scalar" && field.calibration) {
        const path = ["condition", "fields", i, "calibration"];
        const encodedRange = field.calibration.encodedRange ?? field.range;
        if (encodedRange[0] > field.range[0] || encodedRange[1] < field.range[1])
          issue([...path, "encodedRange"], `encodedRange [${encodedRange.join(", ")}] must hold the field's range [${field.range.join(", ")}]`);
        calibrationIssues(field.calibration.points, field.range, encodedRange).forEach((message) => issue(path, message));
        const measuredAt = field.calibration.measuredAt;
        if (measuredAt && m.defaults.guidance !== undefined && m.defaults.guidance !== measuredAt.guidance)
          issue(
            ["defaults", "guidance"],
            `is ${m.defaults.guidance}, but the calibration map of "${field.name}" was measured at guidance ${measuredAt.guidance} ` +
              `(condition.fields[${i}].calibration.measuredAt): measure the map again at the new default (its command), or keep ${measuredAt.guidance}`,
          );
        if (measuredAt && m.fast && m.fast.guidance !== measuredAt.guidance)
          issue(["fast", "guidance"], `is ${m.fast.guidance}, but the calibration map of "${field.name}" was measured at guidance ${measuredAt.guidance} (condition.fields[${i}].calibration.measuredAt)`);
        const byValue = field.calibration.byValue;
        if (byValue) {
          const by = m.condition.fields.find((f) => f.name === byValue.field);
          if (by?.kind !== "categorical") issue([...path, "byValue"], `"${byValue.field}" is not a categorical field`);
          for (const [value, points] of Object.entries(byValue.points)) {
            if (by?.kind === "categorical" && !by.values.includes(value)) issue([...path, "byValue", value], `"${value}" is not a value of "${byValue.field}"`);
            calibrationIssues(points, field.range, encodedRange).forEach((message) => issue([...path, "byValue", value], message));
          }
          const across = byValue.across;
          if (across) {
            const along = m.condition.fields.find((f) => f.name === across.field);
            if (along?.kind !== "scalar" || along.name === field.name)
              issue([...path, "byValue", "across"], `"${across.field}" is not another scalar field`);
            for (const [value, maps] of Object.entries(across.maps)) {
              const at = [...path, "byValue", "across", "maps", value];
              if (by?.kind === "categorical" && !by.values.includes(value)) issue(at, `"${value}" is not a value of "${byValue.field}"`);
              if (maps.at.length !== maps.points.length) issue(at, `has ${maps.at.length} positions (at) but ${maps.points.length} maps`);
              maps.at.forEach((x, k) => {
                if (k > 0 && x <= maps.at[k - 1]!) issue([...at, "at"], `positions must increase (${maps.at[k - 1]} then ${x})`);
                if (along?.kind === "scalar" && (x < along.range[0] || x > along.range[1]))
                  issue([...at, "at"], `${x} is outside "${along.name}"'s range [${along.range.join(", ")}]`);
              });
              maps.points.forEach((points, k) => calibrationIssues(points, field.range, encodedRange).forEach((message) => issue([...at, "points", k], message)));
            }
          }
        }
      }
      if (field.kind === "scalar" && field.feedback) feedbackIssues(m, field.feedback).forEach((message) => issue(["condition", "fields", i, "feedback"], message));
      for (let slot = field.offset; slot < field.offset + field.width; slot++) {
        if (slot >= m.condition.width) {
          issue(["condition", "fields", i], `field "${field.name}" reaches slot ${slot}, past condition.width ${m.condition.width}`);
          break;
        }
        if (used[slot] !== undefined) issue(["condition", "fields", i], `field "${field.name}" overlaps "${used[slot]}" at slot ${slot}`);
        used[slot] = field.name;
      }
    });
    m.labels.forEach((rule, i) => {
      const refs = rule.kind === "box" ? [rule.class, rule.cx, rule.cy, rule.w, rule.h] : [rule.class, rule.cx, rule.cy, rule.radius];
      for (const ref of refs) if (!names.has(ref)) issue(["labels", i], `refers to unknown condition field "${ref}"`);
      if (rule.plausible) plausibleIssues(rule, m.condition.fields).forEach((message) => issue(["labels", i, "plausible"], message));
    });
    const declared = (file: string, path: (string | number)[]) => {
      if (!(file in m.files)) issue(path, `file "${file}" is not listed in files (so its hash could not be verified)`);
    };
    declared(m.denoiser.file, ["denoiser", "file"]);
    if (m.latent) declared(m.latent.decoder, ["latent", "decoder"]);
    const distilled = m.denoiser.distilledGuidance;
    if (distilled !== undefined) {
      if (m.defaults.guidance !== undefined && m.defaults.guidance !== distilled)
        issue(["defaults", "guidance"], `is ${m.defaults.guidance}, but the denoiser has guidance ${distilled} distilled into it (denoiser.distilledGuidance)`);
      if (m.fast && m.fast.guidance !== distilled)
        issue(["fast", "guidance"], `is ${m.fast.guidance}, but the denoiser has guidance ${distilled} distilled into it (denoiser.distilledGuidance)`);
    }
    const expected = m.latent ? m.latent.shape : null;
    if (expected && expected.length !== 3) issue(["latent", "shape"], "latent shape is [channels, height, width]");
  });

/** Feedback needs a one-channel pixel-space image, one circle label whose class field has its classes, its meter listed in files. */
function feedbackIssues(m: z.infer<typeof manifestObject>, feedback: z.infer<typeof scalarFeedback>): string[] {
  const issues: string[] = [];
  if (m.latent) issues.push("needs a pixel-space model (the meter reads the x0 estimate's pixels); this one has a latent decoder");
  if (m.image.channels !== 1) issues.push(`needs a one-channel image; this one has ${m.image.channels} channels`);
  const circles = m.labels.filter((rule) => rule.kind === "circle");
  if (circles.length !== 1) issues.push(`needs exactly one circle label (the region it reads and scales); labels has ${circles.length}`);
  const circle = circles[0];
  const classField = circle ? m.condition.fields.find((f) => f.name === circle.class) : undefined;
  if (classField?.kind === "categorical")
    for (const c of feedback.classes) if (!classField.values.includes(c)) issues.push(`class "${c}" is not a value of "${classField.name}"`);
  for (const c of feedback.holds ?? []) if (!feedback.classes.includes(c)) issues.push(`holds "${c}", which is not among its classes (${feedback.classes.join(", ")})`);
  if (feedback.ring[0] <= 1) issues.push(`ring [${feedback.ring.join(", ")}] must lie outside the circle (inner radius above 1)`);
  if (!(feedback.meter in m.files)) issues.push(`meter "${feedback.meter}" is not listed in files (so its hash could not be verified)`);
  return issues;
}

/** A map's points: requested inside the field's range, encoded inside the encoded range, both monotone. */
function calibrationIssues(points: [number, number][], [lo, hi]: [number, number], [encodedLo, encodedHi]: [number, number]): string[] {
  const issues: string[] = [];
  points.forEach(([requested, encoded], i) => {
    if (requested < lo || requested > hi) issues.push(`point ${i} [${requested}, ${encoded}] requests a value outside the range [${lo}, ${hi}]`);
    if (encoded < encodedLo || encoded > encodedHi) issues.push(`point ${i} [${requested}, ${encoded}] feeds a value outside the encoded range [${encodedLo}, ${encodedHi}]`);
    const previous = points[i - 1];
    if (previous && !(requested > previous[0])) issues.push(`point ${i}: requested values must increase (${previous[0]} then ${requested})`);
    if (previous && encoded < previous[1]) issues.push(`point ${i}: encoded values must not decrease (${previous[1]} then ${encoded})`);
  });
  return issues;
}

/** A label rule's `plausible` names every class the rule labels (the class field's values but absentWhen), no other. */
function plausibleIssues(rule: z.infer<typeof labelRuleSchema>, fields: z.infer<typeof conditionFieldSchema>[]): string[] {
  const field = fields.find((f) => f.name === rule.class);
  if (field?.kind !== "categorical") return [`needs a categorical class field; "${rule.class}" is not one`];
  const classes = field.values.filter((v) => !rule.absentWhen.includes(v));
  const declared = Object.keys(rule.plausible ?? {});
  const issues = [
    ...classes.filter((c) => !declared.includes(c)).map((c) => `has no entry for class "${c}"`),
    ...declared.filter((c) => !classes.includes(c)).map((c) => `"${c}" is not a labelled class of ${rule.class}; classes: ${classes.join(", ")}`),
  ];
  if (rule.kind === "circle")
    for (const [c, geometry] of Object.entries(rule.plausible ?? {}))
      if (geometry.radius[1] >= Math.min(geometry.within.rx, geometry.within.ry))
        issues.push(`"${c}": a radius up to ${geometry.radius[1]} leaves no room for the centre within half-axes ${geometry.within.rx}, ${geometry.within.ry}`);
  return issues;
}

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type PlausibleBox = z.infer<typeof plausibleBox>;
export type PlausibleCircle = z.infer<typeof plausibleCircle>;
export type ConditionField = z.infer<typeof conditionFieldSchema>;
export type ScalarCalibration = z.infer<typeof calibration>;
export type ScalarFeedback = z.infer<typeof scalarFeedback>;
export type LabelRule = z.infer<typeof labelRuleSchema>;
export type NoiseSchedule = z.infer<typeof noiseScheduleSchema>;
export type DerivedFrom = z.infer<typeof derivedFrom>;
export type PredictionType = (typeof PREDICTION_TYPES)[number];

/** The shape [C, H, W] of the tensor the denoiser works on: the latent when there is a decoder, else the image. */
export function sampleShape(manifest: ModelManifest): [number, number, number] {
  if (manifest.latent) {
    const [c, h, w] = manifest.latent.shape;
    return [c ?? 0, h ?? 0, w ?? 0];
  }
  return [manifest.image.channels, manifest.image.height, manifest.image.width];
}
