// Dataset exports: exportDataset records a frozen selection of samples in one format with a seeded split;
// the zip streams from /exports/<uuid>.zip and the export's status and progress are queryable. exportSamples
// lists what an export with a filter would hold (the gallery's "misses only" view uses it).
import { NotFoundError, ValidationError } from "../../errors.ts";
import { EXPORTABLE_OUTCOMES, parseExportFilter, sampleWhere } from "../../export/index.ts";
import { MISS_OUTCOMES } from "../../detection/index.ts";
import { builder } from "../builder.ts";

const ExportFormatEnum = builder.enumType("ExportFormat", {
  values: {
    YOLO: { description: "Ultralytics layout: images/{train,val,test}, labels/… (class cx cy w h, normalised), data.yaml" },
    COCO: { description: "images/{split}/ and annotations/instances_{split}.json with per-image provenance under `rareforge`" },
    DICOM: { description: "Medical samples: dicom/{split}/*.dcm, labels/{split}/*.json (ground truth), seg/{split}/*.seg.dcm (DICOM SEG)" },
  } as const,
});
const ExportStatusEnum = builder.enumType("ExportStatus", { values: ["READY", "STREAMING", "COMPLETED", "FAILED"] as const });
const ExportOutcomeEnum = builder.enumType("ExportOutcome", {
  description: "Score outcomes an export can select; INVALID samples are never exported.",
  values: EXPORTABLE_OUTCOMES,
});

const ExportFilterInput = builder.inputType("ExportFilter", {
  description: "Which samples: all given conditions must hold. Only generated samples (status OK) are exported, never INVALID ones.",
  fields: (t) => ({
    scenarioId: t.id({ required: false }),
    jobId: t.id({ required: false }),
    outcomes: t.field({ type: [ExportOutcomeEnum], required: false, description: "Samples with a score (any detector) of one of these outcomes." }),
    missesOnly: t.boolean({ required: false, description: "Shorthand for outcomes [MISS, WRONG_CLASS]." }),
    parameters: t.field({ type: "JSON", required: false, description: 'Drawn parameter values, e.g. { "weather": "fog" }.' }),
  }),
});

const ExportSplitInput = builder.inputType("ExportSplit", {
  description: "Fractions summing to 1 and the seed: a sample's split follows from sha256(seed, sample id). Defaults 0.8 / 0.1 / 0.1, seed 0.",
  fields: (t) => ({
    train: t.float({ required: false }),
    val: t.float({ required: false }),
    test: t.float({ required: false }),
    seed: t.int({ required: false }),
  }),
});

builder.prismaNode("DatasetExport", {
  id: { field: "id" },
  description: "A dataset export; its zip is built while it downloads from `url`.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    format: t.expose("format", { type: ExportFormatEnum }),
    status: t.expose("status", { type: ExportStatusEnum }),
    filter: t.expose("filter", { type: "JSON" }),
    split: t.expose("split", { type: "JSON" }),
    sampleCount: t.exposeInt("sampleCount"),
    writtenCount: t.exposeInt("writtenCount", { description: "Samples written by the latest download." }),
    progress: t.float({ description: "writtenCount / sampleCount (1 for an empty export once completed).", resolve: (e) => (e.sampleCount > 0 ? e.writtenCount / e.sampleCount : e.status === "COMPLETED" ? 1 : 0) }),
    byteCount: t.float({ resolve: (e) => Number(e.byteCount) }),
    error: t.exposeString("error", { nullable: true }),
    url: t.string({ description: "Path of the zip on this service.", resolve: (e) => `/exports/${e.id}.zip` }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
  }),
});

type GlobalId = { typename: string; id: string };
type FilterArg = { scenarioId?: string | number | null; jobId?: string | number | null; outcomes?: readonly string[] | null; missesOnly?: boolean | null; parameters?: unknown } | null | undefined;

/** Relay IDs (or bare uuids) to the export filter's uuids; missesOnly folds into outcomes. */
function filterFromArgs(arg: FilterArg): Record<string, unknown> {
  if (!arg) return {};
  const uuidOf = (value: string | number, typename: string, path: string) => {
    const text = String(value);
    let decoded: GlobalId | undefined;
    try {
      const plain = Buffer.from(text, "base64").toString("utf8");
      const split = plain.indexOf(":");
      if (split > 0) decoded = { typename: plain.slice(0, split), id: plain.slice(split + 1) };
    } catch {
      decoded = undefined;
    }
    if (decoded && decoded.typename === typename) return decoded.id;
    if (/^[0-9a-f-]{36}$/i.test(text)) return text;
    throw new ValidationError([{ path, message: `not a ${typename} id: ${text}` }], "invalid export filter");
  };
  if (arg.missesOnly && arg.outcomes) throw new ValidationError([{ path: "filter.missesOnly", message: "give either missesOnly or outcomes, not both" }], "invalid export filter");
  return {
    ...(arg.scenarioId ? { scenarioId: uuidOf(arg.scenarioId, "Scenario", "filter.scenarioId") } : {}),
    ...(arg.jobId ? { jobId: uuidOf(arg.jobId, "GenerationJob", "filter.jobId") } : {}),
    ...(arg.outcomes ? { outcomes: [...arg.outcomes] } : arg.missesOnly ? { outcomes: [...MISS_OUTCOMES] } : {}),
    ...(arg.parameters !== undefined && arg.parameters !== null ? { parameters: arg.parameters } : {}),
  };
}

builder.mutationFields((t) => ({
  exportDataset: t.prismaField({
    type: "DatasetExport",
    description: "Records an export of the samples the filter selects now; download the zip from its `url` (progress: datasetExport).",
    args: {
      filter: t.arg({ type: ExportFilterInput, required: false }),
      format: t.arg({ type: ExportFormatEnum, required: true }),
      split: t.arg({ type: ExportSplitInput, required: false }),
    },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const split = args.split ? Object.fromEntries(Object.entries(args.split).filter(([, v]) => v !== null && v !== undefined)) : undefined;
      const created = await ctx.exports.create({ filter: filterFromArgs(args.filter), format: args.format, split });
      return ctx.db.prisma.datasetExport.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
}));

builder.queryFields((t) => ({
  datasetExport: t.prismaField({
    type: "DatasetExport",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const found = args.id.typename === "DatasetExport" ? await ctx.db.prisma.datasetExport.findUnique({ ...query, where: { id: args.id.id } }) : null;
      if (!found) throw new NotFoundError("export", args.id.id);
      return found;
    },
  }),
  exportSamples: t.prismaConnection(
    {
      type: "Sample",
      cursor: "id",
      description: "The samples an export with this filter would hold now, in export order (job, index).",
      args: { filter: t.arg({ type: ExportFilterInput, required: false }) },
      errors: { types: [ValidationError] },
      resolve: (query, _root, args, ctx) =>
        ctx.db.prisma.sample.findMany({ ...query, where: sampleWhere(parseExportFilter(filterFromArgs(args.filter)), new Date()), orderBy: [{ jobId: "asc" }, { index: "asc" }] }),
      totalCount: (_connection, args, ctx) => ctx.db.prisma.sample.count({ where: sampleWhere(parseExportFilter(filterFromArgs(args.filter)), new Date()) }),
    },
    {},
  ),
}));
