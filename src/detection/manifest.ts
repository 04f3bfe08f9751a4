// detector.json and critic.json (models/README.md), validated with zod. Unknown extra fields (provenance,
// evaluation) pass through: they are documentation for people, not inputs to the runtime.
import { z } from "zod";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "sha256 hex");
const identity = {
  name: z.string().min(1),
  version: z.string().min(1),
  domain: z.enum(["automotive", "medical"]).optional(),
  license: z.string().optional(),
  description: z.string().optional(),
  files: z.record(z.string(), sha256),
  file: z.string().min(1),
};
const valueRange = z.tuple([z.number(), z.number()]);

export const detectorManifestSchema = z
  .looseObject({
    schema: z.literal("rareforge.detector/1"),
    ...identity,
    input: z.looseObject({
      name: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      channels: z.union([z.literal(1), z.literal(3)]),
      layout: z.literal("NCHW"),
      // defaults follow output.layout (layouts.ts): Ultralytics RGB 0..1, YOLOX BGR 0..255; pad 114/255
      valueRange: valueRange.optional(),
      letterbox: z.boolean().default(true),
      padValue: z.number().min(0).max(1).optional(),
      channelOrder: z.enum(["rgb", "bgr"]).optional(),
    }),
    output: z.looseObject({
      name: z.string().min(1),
      // "yolov8": Ultralytics [1, 4 + C, N]; "yolox": YOLOX [1, N, 5 + C]
      layout: z.enum(["yolov8", "yolox"]),
      shape: z.tuple([z.number().int(), z.number().int().positive(), z.number().int().positive()]).optional(),
      box: z.literal("cxcywh").default("cxcywh"),
      scores: z.literal("sigmoid").default("sigmoid"),
      nms: z.literal(false).default(false),
    }),
    classes: z.array(z.string().min(1)).min(1),
    classField: z.string().min(1).optional(),
    classMap: z.record(z.string(), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])).default({}),
    model: z.string().min(1).optional(),
    defaults: z
      .looseObject({
        scoreThreshold: z.number().min(0).max(1).default(0.25),
        iouThreshold: z.number().gt(0).max(1).default(0.45),
        matchIoU: z.number().gt(0).max(1).default(0.5),
      })
      .default({ scoreThreshold: 0.25, iouThreshold: 0.45, matchIoU: 0.5 }),
  })
  .superRefine((m, ctx) => {
    if (!(m.file in m.files)) ctx.addIssue({ code: "custom", path: ["file"], message: `"${m.file}" is not listed in files` });
    if (m.output.shape && m.output.layout === "yolov8" && m.output.shape[1] !== 4 + m.classes.length)
      ctx.addIssue({ code: "custom", path: ["output", "shape"], message: `row count ${m.output.shape[1]} != 4 + ${m.classes.length} classes` });
    if (m.output.shape && m.output.layout === "yolox" && m.output.shape[2] !== 5 + m.classes.length)
      ctx.addIssue({ code: "custom", path: ["output", "shape"], message: `column count ${m.output.shape[2]} != 5 + ${m.classes.length} classes` });
  });
export type DetectorManifest = z.infer<typeof detectorManifestSchema>;

const criticField = z.discriminatedUnion("kind", [
  z.looseObject({
    name: z.string().min(1),
    kind: z.literal("categorical"),
    values: z.array(z.string().min(1)).min(1),
    offset: z.number().int().nonnegative(),
    width: z.number().int().positive(),
  }),
  z.looseObject({
    name: z.string().min(1),
    kind: z.literal("scalar"),
    range: z.tuple([z.number(), z.number()]),
    offset: z.number().int().nonnegative(),
    width: z.literal(1).default(1),
  }),
]);
export type CriticField = z.infer<typeof criticField>;

const criticBox = z.discriminatedUnion("kind", [
  z.looseObject({
    kind: z.literal("box"),
    cx: z.string(),
    cy: z.string(),
    w: z.string(),
    h: z.string(),
    class: z.string(),
    absentWhen: z.array(z.string()).default([]),
  }),
  z.looseObject({
    kind: z.literal("circle"),
    cx: z.string(),
    cy: z.string(),
    radius: z.string(),
    class: z.string(),
    absentWhen: z.array(z.string()).default([]),
  }),
]);
export type CriticBoxRule = z.infer<typeof criticBox>;

const probability = z.number().min(0).max(1);

/**
 * The calibrated realism gate (issue 17): floors chosen from the critic's behaviour on exact renders, so that
 * few renders of a request are refused. A categorical field is refused when the critic's probability for the
 * requested value is below that value's floor (not when another value merely wins the argmax); the box when
 * the critic sees an object and its box's IoU with the request is below the requested class's floor (an object
 * the critic cannot see has no box; the class floor judges it). `calibration` says what they were chosen on.
 */
const criticGate = z.looseObject({
  rule: z.literal("requested-probability"),
  /** field -> requested value -> floor on the probability the critic gives that value */
  fields: z.record(z.string(), z.record(z.string(), probability)),
  /** requested class -> floor on the IoU of the critic's box with the requested one, when the critic sees an object */
  boxMinIoU: z.record(z.string(), probability).default({}),
  /**
   * scalar field outside the box -> allowed |seen - requested| as a fraction of its range: one number for every
   * class, or per requested class (the critic reads a scalar better on some classes than on others)
   */
  scalarTolerance: z.record(z.string(), z.union([probability, z.record(z.string(), probability)])).default({}),
  calibration: z.looseObject({}).optional(),
});
export type CriticGate = z.infer<typeof criticGate>;

/**
 * The critic's look (issue 17): a second network that sees only the window of the critic's input centred on where
 * the object was asked to be (never its size or shape) and names what is there, one logit per value of the class
 * field, `nothing` meaning no object. Where an object was requested, the gate reads the class field from it: the
 * whole-frame critic names small objects poorly, and the gate always knows where to look.
 */
const criticLook = z.looseObject({
  file: z.string().min(1),
  /** the class field the look reads (the box rule's class) */
  field: z.string().min(1),
  /** side of the square window, in pixels of the critic's input */
  window: z.number().int().positive(),
  /**
   * side of a wider window on the same centre, average-pooled to window x window and given to the look after the
   * window's channels (a large object's whole, where the window holds only its middle); absent: the window alone
   */
  context: z.number().int().positive().optional(),
  input: z.string().min(1),
  output: z.string().min(1),
  /** the value each logit stands for, in output order: the class field's values */
  values: z.array(z.string().min(1)).min(2),
  /** the value that means "nothing here": one of the box rule's absentWhen */
  nothing: z.string().min(1),
  /** the look's share of the class reading: p ~ critic^(1 - weight) * look^weight (1: the look alone) */
  weight: probability.default(1),
  /**
   * the look also reads its input mirrored left to right and the gate takes the mean of the two distributions (a
   * look trained on randomly mirrored windows names the same class either way; the mean errs less)
   */
  mirror: z.boolean().default(false),
  /**
   * where the look reads its window: moved by each of these [dx, dy] (pixels of the critic's input, the context
   * window with it) from the place's window; the gate takes the mean of the readings (an object a pixel off the
   * window's centre is read as often as one on it). [[0, 0]]: the window at the place only
   */
  shifts: z
    .array(z.tuple([z.number().int(), z.number().int()]))
    .min(1)
    .max(25)
    .refine((shifts) => new Set(shifts.map((s) => s.join(","))).size === shifts.length, "shifts must not repeat")
    .default([[0, 0]]),
  /**
   * where no object was requested but the whole-frame critic names one, the gate reads the class the same way at
   * the critic's own box (critic and look combined, the weight by that box's size): the critic's claim of an object
   * must be confirmed by the look where the critic says it is
   */
  confirm: z.boolean().default(false),
  /**
   * the look's share by the requested object's size (the look names small objects better, the whole frame large
   * ones): the first band whose `below` exceeds the requested box's longer side, a fraction of the image, gives the
   * weight; a box no band holds keeps `weight`. Bands in increasing order.
   */
  bySize: z
    .array(z.looseObject({ below: z.number().gt(0).max(1), weight: probability }))
    .min(1)
    .refine((bands) => bands.every((b, i) => i === 0 || b.below > (bands[i - 1] as { below: number }).below), "bySize bands must be in increasing order of below")
    .optional(),
});
export type CriticLook = z.infer<typeof criticLook>;

export const criticManifestSchema = z
  .looseObject({
    schema: z.literal("rareforge.critic/1"),
    ...identity,
    model: z.string().min(1),
    input: z.looseObject({
      name: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      channels: z.union([z.literal(1), z.literal(3)]),
      layout: z.literal("NCHW"),
      valueRange: valueRange,
    }),
    output: z.looseObject({ name: z.string().min(1), width: z.number().int().positive(), layout: z.literal("condition") }),
    fields: z.array(criticField).min(1),
    box: criticBox.optional(),
    gate: criticGate.optional(),
    look: criticLook.optional(),
  })
  .superRefine((m, ctx) => {
    if (!(m.file in m.files)) ctx.addIssue({ code: "custom", path: ["file"], message: `"${m.file}" is not listed in files` });
    const names = new Set(m.fields.map((f) => f.name));
    if (m.gate) {
      for (const [name, floors] of Object.entries(m.gate.fields)) {
        const field = m.fields.find((f) => f.name === name);
        if (!field || field.kind !== "categorical") {
          ctx.addIssue({ code: "custom", path: ["gate", "fields", name], message: `"${name}" is not a categorical field of the critic` });
          continue;
        }
        for (const value of Object.keys(floors))
          if (!field.values.includes(value)) ctx.addIssue({ code: "custom", path: ["gate", "fields", name, value], message: `"${value}" is not a value of ${name} (${field.values.join(", ")})` });
      }
      const classes = m.box ? m.fields.find((f) => f.name === m.box!.class) : undefined;
      /** a value of the box's class field that has an object (not one of absentWhen) */
      const hasObject = (value: string) => !!m.box && classes?.kind === "categorical" && classes.values.includes(value) && !m.box.absentWhen.includes(value);
      for (const [name, tolerance] of Object.entries(m.gate.scalarTolerance)) {
        if (m.fields.find((f) => f.name === name)?.kind !== "scalar") ctx.addIssue({ code: "custom", path: ["gate", "scalarTolerance", name], message: `"${name}" is not a scalar field of the critic` });
        if (typeof tolerance === "number") continue;
        for (const value of Object.keys(tolerance))
          if (!hasObject(value)) ctx.addIssue({ code: "custom", path: ["gate", "scalarTolerance", name, value], message: `"${value}" is not a class with an object` });
      }
      for (const value of Object.keys(m.gate.boxMinIoU))
        if (!hasObject(value)) ctx.addIssue({ code: "custom", path: ["gate", "boxMinIoU", value], message: `"${value}" is not a class with a box` });
    }
    if (m.look) {
      const look = m.look;
      if (!(look.file in m.files)) ctx.addIssue({ code: "custom", path: ["look", "file"], message: `"${look.file}" is not listed in files` });
      if (!m.box || m.box.class !== look.field) ctx.addIssue({ code: "custom", path: ["look", "field"], message: `"${look.field}" is not the box's class field` });
      const field = m.fields.find((f) => f.name === look.field);
      if (field?.kind === "categorical" && [...field.values].sort().join("\n") !== [...look.values].sort().join("\n"))
        ctx.addIssue({ code: "custom", path: ["look", "values"], message: `the look's values (${look.values.join(", ")}) are not ${look.field}'s (${field.values.join(", ")})` });
      if (!m.box?.absentWhen.includes(look.nothing)) ctx.addIssue({ code: "custom", path: ["look", "nothing"], message: `"${look.nothing}" is not a value that means no object` });
      if (look.context !== undefined && (look.context <= look.window || look.context % look.window !== 0 || (look.context - look.window) % 2 !== 0))
        ctx.addIssue({ code: "custom", path: ["look", "context"], message: `context ${look.context} must be a multiple of the window (${look.window}) larger than it, centred on it` });
      look.shifts.forEach((shift, i) => {
        if (shift.some((d) => Math.abs(d) > look.window / 4))
          ctx.addIssue({ code: "custom", path: ["look", "shifts", i], message: `shift [${shift.join(", ")}] moves the window by more than a quarter of its side (${look.window / 4} px): the place would fall out of its middle` });
      });
    }
    m.fields.forEach((f, i) => {
      if (f.offset + f.width > m.output.width)
        ctx.addIssue({ code: "custom", path: ["fields", i], message: `slots ${f.offset}..${f.offset + f.width - 1} exceed output width ${m.output.width}` });
    });
    if (m.box) {
      const refs = m.box.kind === "box" ? [m.box.cx, m.box.cy, m.box.w, m.box.h, m.box.class] : [m.box.cx, m.box.cy, m.box.radius, m.box.class];
      for (const ref of refs) if (!names.has(ref)) ctx.addIssue({ code: "custom", path: ["box"], message: `names unknown field "${ref}"` });
    }
  });
export type CriticManifest = z.infer<typeof criticManifestSchema>;

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}
