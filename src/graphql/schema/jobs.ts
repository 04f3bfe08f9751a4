// Generation jobs and samples: request, follow (subscription over SSE), cancel, browse samples with their
// provenance, reproduce a sample from its record.
import { ArchivedError, NotFoundError, ValidationError } from "../../errors.ts";
import { ExecutionProviderUnavailableError, ReproductionUnavailableError, type JobProgress, type ReproductionReport } from "../../jobs/index.ts";
import { DetectorUnusableError } from "../../detection/index.ts";
import { artifactUrl, builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { SamplerEnum, SamplingQualityEnum, SAMPLING_DEFAULT_DESCRIPTIONS } from "./sampling.ts";
import { ErrorInterface } from "./errors.ts";

const JobStatusEnum = builder.enumType("JobStatus", { values: ["QUEUED", "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"] as const });
const SampleStatusEnum = builder.enumType("SampleStatus", { values: ["OK", "FAILED"] as const });

builder.objectType(ExecutionProviderUnavailableError, {
  name: "ExecutionProviderUnavailableError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ requested: t.exposeString("requested"), available: t.exposeStringList("available") }),
});

builder.objectType(ReproductionUnavailableError, {
  name: "ReproductionUnavailableError",
  interfaces: [ErrorInterface],
  fields: () => ({}),
});

const ArtifactRef = builder.prismaObject("Artifact", {
  description: "A file in the content-addressed store, served at /artifacts/<sha256>.",
  fields: (t) => ({
    sha256: t.exposeString("sha256"),
    mediaType: t.exposeString("mediaType"),
    byteSize: t.exposeInt("byteSize"),
    url: t.string({ description: "URL of the file on this service: /artifacts/<sha256>, signed (short-lived) so that a browser's <img src> needs no header.", resolve: (a, _args, ctx) => artifactUrl(ctx, a.sha256) }),
  }),
});

// Select mode (GenerationJob, Sample): a row brings only the columns the query asks for, not its large JSON
// columns (options, provenance, parameters…) on every list (BENCHMARKS "API latency").
builder.prismaNode("GenerationJob", {
  id: { field: "id" },
  select: { id: true },
  description: "A request for `count` samples of one scenario version, split into batch tasks.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    status: t.expose("status", { type: JobStatusEnum }),
    count: t.exposeInt("count"),
    batchSize: t.exposeInt("batchSize"),
    taskCount: t.exposeInt("taskCount"),
    sampler: t.exposeString("sampler"),
    steps: t.exposeInt("steps"),
    guidance: t.exposeFloat("guidance"),
    quality: t.field({
      type: SamplingQualityEnum,
      nullable: true,
      description: "The quality the request asked for (its samples' provenance records it too); null when it named none (the model's defaults).",
      select: { options: true },
      resolve: (j) => (j.options as { quality?: "default" | "fast" } | null)?.quality ?? null,
    }),
    seed: t.float({ description: "Sample i draws parameters and noise from (seed, i).", select: { seed: true }, resolve: (j) => Number(j.seed) }),
    executionProvider: t.exposeString("executionProvider"),
    completedCount: t.exposeInt("completedCount"),
    failedCount: t.exposeInt("failedCount"),
    error: t.exposeString("error", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    cancelRequestedAt: t.expose("cancelRequestedAt", { type: "DateTime", nullable: true }),
    scenarioVersion: t.relation("scenarioVersion"),
    samples: t.relatedConnection("samples", { cursor: "id", query: { orderBy: { index: "asc" } }, totalCount: true }),
  }),
});

builder.prismaNode("Sample", {
  id: { field: "id" },
  select: { id: true },
  description: "One synthesised image with its full provenance record.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    index: t.exposeInt("index"),
    status: t.expose("status", { type: SampleStatusEnum }),
    error: t.exposeString("error", { nullable: true }),
    parameters: t.expose("parameters", { type: "JSON" }),
    condition: t.exposeFloatList("condition"),
    labels: t.expose("labels", { type: "JSON", description: "Ground truth derived from the condition (boxes, masks)." }),
    sampler: t.exposeString("sampler"),
    steps: t.exposeInt("steps"),
    guidance: t.exposeFloat("guidance"),
    seed: t.float({ select: { seed: true }, resolve: (s) => Number(s.seed) }),
    executionProvider: t.exposeString("executionProvider"),
    onnxruntimeVersion: t.exposeString("onnxruntimeVersion"),
    rareforgeVersion: t.exposeString("rareforgeVersion"),
    provenance: t.expose("provenance", {
      type: "JSON",
      description: "`record` (what is embedded in the file; `recordJson` is its exact text), `artifact` (sha256, media type, size) and `timings`.",
    }),
    timings: t.expose("timings", { type: "JSON" }),
    workerId: t.exposeString("workerId", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    artifact: t.relation("artifact", { nullable: true }),
    job: t.relation("job"),
    scenarioVersion: t.relation("scenarioVersion"),
  }),
});

const JobProgressRef = builder.objectRef<JobProgress>("JobProgress").implement({
  description: "A snapshot of a job's progress; the subscription sends one whenever counts or state change.",
  fields: (t) => ({
    jobId: t.exposeString("jobId"),
    status: t.field({ type: JobStatusEnum, resolve: (p) => p.status as "QUEUED" }),
    count: t.exposeInt("count"),
    completedCount: t.exposeInt("completedCount"),
    failedCount: t.exposeInt("failedCount"),
    samplesPerSecond: t.exposeFloat("samplesPerSecond", { nullable: true }),
    etaSeconds: t.exposeFloat("etaSeconds", { nullable: true }),
    at: t.expose("at", { type: "DateTime" }),
  }),
});

const ReproductionRef = builder.objectRef<ReproductionReport>("Reproduction").implement({
  description: "The outcome of regenerating a sample from its provenance record.",
  fields: (t) => ({
    matches: t.exposeBoolean("matches"),
    expectedSha256: t.exposeString("expectedSha256"),
    actualSha256: t.exposeString("actualSha256"),
    executionProvider: t.exposeString("executionProvider"),
    seconds: t.exposeFloat("seconds"),
    sample: t.prismaField({ type: "Sample", resolve: (query, r, _args, ctx) => ctx.db.prisma.sample.findUniqueOrThrow({ ...query, where: { id: r.sampleId } }) }),
  }),
});

/** `parameters: { weather: "fog" }` -> samples whose drawn parameter equals that value (all given must match). */
function parameterFilter(parameters: unknown) {
  if (parameters === null || parameters === undefined) return [];
  if (typeof parameters !== "object" || Array.isArray(parameters)) throw new ValidationError([{ path: "parameters", message: "give an object of parameter name -> value" }]);
  return Object.entries(parameters as Record<string, unknown>).map(([name, value]) => ({ parameters: { path: [name], equals: value as string | number } }));
}

builder.queryFields((t) => ({
  job: t.prismaField({
    type: "GenerationJob",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const job = await ctx.db.prisma.generationJob.findUnique({ ...query, where: { id: decodeGlobalId("GenerationJob", args.id) } });
      if (!job) throw new NotFoundError("job", args.id.id);
      return job;
    },
  }),
  jobs: t.prismaConnection(
    {
      type: "GenerationJob",
      cursor: "id",
      description: "Generation jobs, newest first, filtered by scenario and status.",
      args: { scenarioId: t.arg.globalID({ required: false }), status: t.arg({ type: JobStatusEnum, required: false }) },
      resolve: (query, _root, args, ctx) => ctx.db.prisma.generationJob.findMany({ ...query, where: jobFilter(args), orderBy: [{ createdAt: "desc" }, { id: "asc" }] }),
      totalCount: (_connection, args, ctx) => ctx.db.prisma.generationJob.count({ where: jobFilter(args) }),
    },
    {},
  ),
  samples: t.prismaConnection(
    {
      type: "Sample",
      cursor: "id",
      description: "Samples filtered by job, scenario, status and drawn parameter values (e.g. { weather: \"fog\" }).",
      args: {
        jobId: t.arg.globalID({ required: false }),
        scenarioId: t.arg.globalID({ required: false }),
        status: t.arg({ type: SampleStatusEnum, required: false }),
        parameters: t.arg({ type: "JSON", required: false }),
      },
      resolve: (query, _root, args, ctx) =>
        ctx.db.prisma.sample.findMany({ ...query, where: sampleFilter(args), orderBy: [{ createdAt: "asc" }, { index: "asc" }, { id: "asc" }] }),
      totalCount: (_connection, args, ctx) => ctx.db.prisma.sample.count({ where: sampleFilter(args) }),
    },
    {},
  ),
  sample: t.prismaField({
    type: "Sample",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const sample = await ctx.db.prisma.sample.findUnique({ ...query, where: { id: decodeGlobalId("Sample", args.id) } });
      if (!sample) throw new NotFoundError("sample", args.id.id);
      return sample;
    },
  }),
}));

function jobFilter(args: { scenarioId?: { typename: string; id: string } | null; status?: string | null }) {
  return {
    ...(args.scenarioId ? { scenarioVersion: { scenarioId: decodeGlobalId("Scenario", args.scenarioId) } } : {}),
    ...(args.status ? { status: args.status as "QUEUED" } : {}),
  };
}

function sampleFilter(args: {
  jobId?: { typename: string; id: string } | null;
  scenarioId?: { typename: string; id: string } | null;
  status?: string | null;
  parameters?: unknown;
}) {
  return {
    ...(args.jobId ? { jobId: decodeGlobalId("GenerationJob", args.jobId) } : {}),
    ...(args.scenarioId ? { scenarioVersion: { scenarioId: decodeGlobalId("Scenario", args.scenarioId) } } : {}),
    ...(args.status ? { status: args.status as "OK" } : {}),
    AND: parameterFilter(args.parameters),
  };
}

builder.mutationFields((t) => ({
  requestGeneration: t.prismaField({
    type: "GenerationJob",
    description: "Queues `count` samples of the scenario's latest version; returns the job at once (follow it with jobProgress).",
    args: {
      scenarioId: t.arg.globalID({ required: true }),
      count: t.arg.int({ required: true }),
      sampler: t.arg({ type: SamplerEnum, required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.sampler }),
      steps: t.arg.int({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.steps }),
      guidance: t.arg.float({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.guidance }),
      quality: t.arg({ type: SamplingQualityEnum, required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.quality }),
      seed: t.arg.int({ required: true }),
      batchSize: t.arg.int({ required: true, description: "Samples per batch task." }),
      executionProvider: t.arg.string({ required: false, description: "cpu | cuda | webgpu | auto (default: the service's RAREFORGE_EP)" }),
      detectorId: t.arg.globalID({ required: false, description: "Score every sample with this detector right after generation (realism gate included)." }),
    },
    errors: { types: [ValidationError, NotFoundError, ArchivedError, ExecutionProviderUnavailableError, DetectorUnusableError] },
    resolve: async (query, _root, args, ctx) => {
      const scenarioId = decodeGlobalId("Scenario", args.scenarioId);
      // the detector must be able to score this scenario before the job exists
      const detector = args.detectorId ? await ctx.detectors.checkForScenarioId(decodeGlobalId("DetectorPackage", args.detectorId), scenarioId) : null;
      const job = await ctx.jobs.request({
        ...args,
        scenarioId,
        ...(detector ? { detectorPackageId: detector.id, realism: ctx.detectors.realismGate() } : {}),
      });
      return ctx.db.prisma.generationJob.findUniqueOrThrow({ ...query, where: { id: job.id } });
    },
  }),
  cancelJob: t.prismaField({
    type: "GenerationJob",
    description: "Stops a queued or running job within one batch; samples already committed stay. No-op on a finished job.",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = await ctx.jobs.cancel(decodeGlobalId("GenerationJob", args.id));
      return ctx.db.prisma.generationJob.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  reproduceSample: t.field({
    type: ReproductionRef,
    description: "Regenerates a sample from its provenance record alone and reports whether the file's sha256 matches.",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError, ReproductionUnavailableError] },
    resolve: (_root, args, ctx) => ctx.jobs.reproduce(decodeGlobalId("Sample", args.id)),
  }),
}));

// The root subscription type lives here: job progress is its only field so far.
builder.subscriptionType({});

builder.subscriptionFields((t) => ({
  jobProgress: t.field({
    type: JobProgressRef,
    description: "Progress of a job (counts, throughput, ETA, state changes) until it ends; over SSE or WebSocket-free HTTP.",
    args: { jobId: t.arg.globalID({ required: true }) },
    subscribe: (_root, args, ctx) => ctx.jobs.progress(decodeGlobalId("GenerationJob", args.jobId)),
    resolve: (progress) => progress,
  }),
}));

void ArtifactRef;
