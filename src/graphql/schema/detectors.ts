// Detectors under test, their detections and scores on samples, and scoring existing samples on demand.
import { AlreadyExistsError, NotFoundError, ValidationError } from "../../errors.ts";
import { DetectorUnusableError, type ScoreSamplesOutcome } from "../../detection/index.ts";
import { builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { ErrorInterface } from "./errors.ts";
import { DomainEnum } from "./scenarios.ts";

export const ScoreOutcomeEnum = builder.enumType("ScoreOutcome", {
  description: "HIT: found as a mapped class; MISS: not found; WRONG_CLASS: found as a class the map does not accept; INVALID: the realism gate refused the sample (excluded from miss rates).",
  values: ["HIT", "MISS", "WRONG_CLASS", "INVALID"] as const,
});

export const DetectorLayoutEnum = builder.enumType("DetectorLayout", {
  description: "ULTRALYTICS: YOLOv8/11 exports, RGB 0..1 centred letterbox, output [1, 4 + classes, candidates]; YOLOX: Megvii YOLOX exports, BGR 0..255 top-left letterbox (pad 114), output [1, grid points of strides 8/16/32, 5 + classes].",
  values: { ULTRALYTICS: { value: "ultralytics" }, YOLOX: { value: "yolox" } } as const,
});

builder.objectType(DetectorUnusableError, {
  name: "DetectorUnusableError",
  description: "The detector file cannot be used as given: unexpected input or output layout, no class names, a class map naming unknown classes, changed files.",
  interfaces: [ErrorInterface],
  fields: (t) => ({ code: t.exposeString("code") }),
});

// Select mode: a row brings only the columns the query asks for (BENCHMARKS "API latency").
builder.prismaNode("DetectorPackage", {
  id: { field: "id" },
  select: { id: true },
  description: "An object detector under test: a shipped package (models/*-detector) or a registered Ultralytics or YOLOX export.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    domain: t.expose("domain", { type: DomainEnum, nullable: true }),
    kind: t.string({ description: "package | ultralytics-onnx | yolox-onnx", select: { manifest: true }, resolve: (d) => String((d.manifest as { kind?: string }).kind ?? "package") }),
    layout: t.field({
      type: DetectorLayoutEnum,
      description: "How its input is prepared and its output decoded.",
      select: { manifest: true },
      // rows registered before YOLOX support carry no layout: they were all Ultralytics
      resolve: (d) => ((d.manifest as { layout?: string }).layout === "yolox" ? "yolox" : "ultralytics"),
    }),
    source: t.field({ type: "JSON", description: "Where its files are: { kind: package, package } or { kind: ultralytics-onnx | yolox-onnx, path }.", select: { manifest: true }, resolve: (d) => (d.manifest as { source?: unknown }).source ?? null }),
    classNames: t.exposeStringList("classNames", { description: "The detector's own classes, in output order." }),
    classMap: t.expose("classMap", { type: "JSON", description: "Scenario class -> the detector classes that count as finding it." }),
    fileHashes: t.expose("fileHashes", { type: "JSON", description: "File name -> sha256, checked at every load." }),
    thresholds: t.field({ type: "JSON", select: { manifest: true }, resolve: (d) => (d.manifest as { thresholds?: unknown }).thresholds ?? null }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.prismaObject("Detection", {
  description: "One box a detector reported on a sample (image pixels).",
  fields: (t) => ({
    id: t.exposeID("id"),
    className: t.exposeString("className"),
    confidence: t.exposeFloat("confidence"),
    x1: t.exposeFloat("x1"),
    y1: t.exposeFloat("y1"),
    x2: t.exposeFloat("x2"),
    y2: t.exposeFloat("y2"),
    matchedLabel: t.exposeInt("matchedLabel", { nullable: true, description: "Index of the intended object (labels.boxes) it matched; null for a false positive." }),
    iou: t.exposeFloat("iou", { nullable: true }),
    context: t.exposeBoolean("context", { description: "An object already in the source camera frame (away from the inserted hazard): recorded for context, never a hit or a false positive." }),
    detector: t.relation("detectorPackage"),
  }),
});

builder.prismaObject("Score", {
  description: "The outcome of one detector on one sample against its intended objects.",
  fields: (t) => ({
    id: t.exposeID("id"),
    outcome: t.expose("outcome", { type: ScoreOutcomeEnum }),
    confidence: t.exposeFloat("confidence", { nullable: true, description: "The weakest intended object's best-match confidence (0 when not found); null with no intended object." }),
    iou: t.exposeFloat("iou", { nullable: true }),
    falsePositives: t.exposeInt("falsePositives"),
    realismValid: t.exposeBoolean("realismValid"),
    realismDetails: t.expose("realismDetails", { type: "JSON", nullable: true, description: "detectorOutcome, the critic's name, box IoU, reasons and readings (seen: the whole frame's; atRequestedPlace: its look's probability of each class at the requested object's place; atCriticsBox: where no object was requested but the critic names one, its look's at the critic's box)." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    detector: t.relation("detectorPackage"),
    sample: t.relation("sample"),
  }),
});

builder.prismaObjectFields("Sample", (t) => ({
  scores: t.relation("scores", {
    description: "Scores of this sample, by every detector or by one.",
    args: { detectorId: t.arg.globalID({ required: false }) },
    query: (args) => ({ where: args.detectorId ? { detectorPackageId: decodeGlobalId("DetectorPackage", args.detectorId) } : {}, orderBy: { createdAt: "asc" } }),
  }),
  detections: t.relation("detections", {
    description: "Boxes detectors reported on this sample, by every detector or by one (highest confidence first).",
    args: { detectorId: t.arg.globalID({ required: false }) },
    query: (args) => ({ where: args.detectorId ? { detectorPackageId: decodeGlobalId("DetectorPackage", args.detectorId) } : {}, orderBy: { confidence: "desc" } }),
  }),
}));

const ScoreSamplesOutcomeRef = builder.objectRef<ScoreSamplesOutcome>("ScoreSamplesOutcome").implement({
  description: "What a scoreSamples call did.",
  fields: (t) => ({
    scored: t.exposeInt("scored", { description: "Samples scored by this call." }),
    invalid: t.exposeInt("invalid", { description: "Of which the realism gate refused." }),
    alreadyScored: t.exposeInt("alreadyScored", { description: "Samples that already had a score from this detector (unchanged)." }),
  }),
});

builder.queryFields((t) => ({
  detectors: t.prismaConnection(
    {
      type: "DetectorPackage",
      cursor: "id",
      description: "Detectors under test (the shipped packages are registered on first use).",
      resolve: async (query, _root, _args, ctx) => {
        await ctx.detectors.ensureShipped();
        return ctx.db.prisma.detectorPackage.findMany({ ...query, orderBy: [{ name: "asc" }, { version: "asc" }] });
      },
      totalCount: (_connection, _args, ctx) => ctx.db.prisma.detectorPackage.count(),
    },
    {},
  ),
  detector: t.prismaField({
    type: "DetectorPackage",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const row = await ctx.detectors.get(decodeGlobalId("DetectorPackage", args.id));
      return ctx.db.prisma.detectorPackage.findUniqueOrThrow({ ...query, where: { id: row.id } });
    },
  }),
}));

builder.mutationFields((t) => ({
  registerDetector: t.prismaField({
    type: "DetectorPackage",
    description:
      "Registers an Ultralytics YOLOv8/11 or a YOLOX ONNX export unchanged, its layout told by its output shape ([1, 4 + C, N] Ultralytics, [1, N, 5 + C] YOLOX) unless `layout` is given: a regular file inside the detectors directory (RAREFORGE_DETECTORS_DIR), given relative to it or absolute; any other path gets one DetectorUnusableError (not-found), and a file over RAREFORGE_MAX_DETECTOR_BYTES is too-large. Class names come from the export's metadata unless `classes` is given (a YOLOX export carries none: COCO's 80 by default); `classMap` maps scenario classes to detector classes, e.g. { pedestrian: \"person\", animal: [\"dog\", \"horse\"] } (default: COCO names for the road vocabulary).",
    args: {
      path: t.arg.string({ required: false, description: "A file inside RAREFORGE_DETECTORS_DIR; or give `file`." }),
      file: t.arg({ type: "File", required: false, description: "The .onnx export itself (GraphQL multipart upload), stored content-addressed in the detectors directory." }),
      name: t.arg.string({ required: false, description: "Default: the file name." }),
      version: t.arg.string({ required: false, description: "Default: the export's metadata version." }),
      classMap: t.arg({ type: "JSON", required: false }),
      classes: t.arg.stringList({ required: false }),
      layout: t.arg({ type: DetectorLayoutEnum, required: false, description: "Default: from the output shape." }),
    },
    errors: { types: [ValidationError, DetectorUnusableError, AlreadyExistsError] },
    resolve: async (query, _root, args, ctx) => {
      const options = {
        ...(args.name ? { name: args.name } : {}),
        ...(args.version ? { version: args.version } : {}),
        ...(args.classMap != null ? { classMap: args.classMap as Record<string, string> } : {}),
        ...(args.classes ? { classes: args.classes } : {}),
        ...(args.layout ? { layout: args.layout } : {}),
      };
      if (Boolean(args.path) === Boolean(args.file)) throw new ValidationError([{ path: "path", message: "give exactly one of path and file" }], "invalid detector registration");
      const row = args.file ? await ctx.detectors.registerUpload(args.file, options) : await ctx.detectors.register({ ...options, path: args.path! });
      return ctx.db.prisma.detectorPackage.findUniqueOrThrow({ ...query, where: { id: row.id } });
    },
  }),
  scoreSamples: t.field({
    type: ScoreSamplesOutcomeRef,
    description: "Scores the existing samples of a job or a scenario with a detector (realism gate included); samples it already scored are left as they are.",
    args: { jobId: t.arg.globalID({ required: false }), scenarioId: t.arg.globalID({ required: false }), detectorId: t.arg.globalID({ required: true }) },
    errors: { types: [ValidationError, NotFoundError, DetectorUnusableError] },
    resolve: (_root, args, ctx) =>
      ctx.detectors.scoreSamples(
        {
          jobId: args.jobId ? decodeGlobalId("GenerationJob", args.jobId) : null,
          scenarioId: args.scenarioId ? decodeGlobalId("Scenario", args.scenarioId) : null,
        },
        decodeGlobalId("DetectorPackage", args.detectorId),
      ),
  }),
}));
