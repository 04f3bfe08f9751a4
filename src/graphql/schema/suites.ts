// Validation suites: define and version them, run one for a detector (optionally against a baseline), follow the
// run, and read its per-criterion results and report.
import { AlreadyExistsError, ArchivedError, NotFoundError, ValidationError, VersionConflictError } from "../../errors.ts";
import { DetectorUnusableError } from "../../detection/index.ts";
import { builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { SamplingQualityEnum } from "./sampling.ts";

const SuiteSourceEnum = builder.enumType("SuiteSource", { values: ["LIBRARY", "API"] as const });
const SuiteRunStatusEnum = builder.enumType("SuiteRunStatus", {
  description: "PASSED: every criterion passed (exit 0); FAILED: a criterion failed (exit 1); ERROR: the run could not complete (exit 2).",
  values: ["RUNNING", "PASSED", "FAILED", "ERROR"] as const,
});
const CriterionStatusEnum = builder.enumType("CriterionStatus", { values: ["PASSED", "FAILED", "SKIPPED"] as const });

builder.prismaNode("SuiteVersion", {
  id: { field: "id" },
  select: { id: true },
  description: "One immutable definition of a suite; runs point at the version they evaluated.",
  fields: (t) => ({
    version: t.exposeInt("version"),
    spec: t.expose("spec", { type: "JSON", description: "The validated definition (defaults applied)." }),
    specHash: t.exposeString("specHash"),
    // stored in the scenarios' source column type; a suite is only ever LIBRARY or API
    source: t.field({ type: SuiteSourceEnum, select: { source: true }, resolve: (v) => (v.source === "LIBRARY" ? "LIBRARY" : "API") }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    suite: t.relation("suite"),
  }),
});

builder.prismaNode("Suite", {
  id: { field: "id" },
  select: { id: true },
  description: "A validation suite: scenarios with sample counts, seeds and pass/fail criteria for a detector.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    name: t.exposeString("name"),
    description: t.exposeString("description"),
    domains: t.exposeStringList("domains", { description: "The domains of the scenarios it names." }),
    latestVersion: t.exposeInt("latestVersion"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    currentVersion: t.prismaField({
      type: "SuiteVersion",
      select: { latestVersion: true },
      resolve: (query, suite, _args, ctx) => ctx.db.prisma.suiteVersion.findUniqueOrThrow({ ...query, where: { suiteId_version: { suiteId: suite.id, version: suite.latestVersion } } }),
    }),
    versions: t.relatedConnection("versions", { cursor: "id", query: { orderBy: { version: "desc" } }, totalCount: true }),
  }),
});

builder.prismaObject("SuiteCriterionResult", {
  description: "One criterion of one scenario in a run, with the figures it was judged on.",
  fields: (t) => ({
    scenario: t.exposeString("scenario"),
    kind: t.exposeString("kind", { description: "maxMissRate, minValidShare or maxRegression." }),
    condition: t.expose("condition", { type: "JSON", nullable: true, description: "The parameter condition it applies to; null for the whole scenario." }),
    status: t.expose("status", { type: CriterionStatusEnum }),
    observed: t.exposeFloat("observed", { nullable: true, description: "Upper Clopper-Pearson bound, valid share, or miss-rate increase over the baseline." }),
    limit: t.exposeFloat("limit"),
    pValue: t.exposeFloat("pValue", { nullable: true, description: "Exact McNemar p-value (maxRegression)." }),
    adjustedP: t.exposeFloat("adjustedP", { nullable: true, description: "Holm-adjusted across the run's paired tests." }),
    message: t.exposeString("message"),
  }),
});

builder.prismaNode("SuiteRun", {
  id: { field: "id" },
  description: "One evaluation of a suite version for a detector, optionally against a baseline on the same samples.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    status: t.expose("status", { type: SuiteRunStatusEnum }),
    exitCode: t.int({ description: "What `rareforge suite run` exits with: 0 passed, 1 failed, 2 could not complete (null while running).", nullable: true, resolve: (r) => (r.status === "RUNNING" ? null : r.status === "PASSED" ? 0 : r.status === "FAILED" ? 1 : 2) }),
    suiteVersion: t.relation("suiteVersion"),
    detector: t.prismaField({ type: "DetectorPackage", resolve: (query, r, _args, ctx) => ctx.db.prisma.detectorPackage.findUniqueOrThrow({ ...query, where: { id: r.detectorPackageId } }) }),
    baseline: t.prismaField({
      type: "DetectorPackage",
      nullable: true,
      resolve: (query, r, _args, ctx) => (r.baselineDetectorPackageId ? ctx.db.prisma.detectorPackage.findUnique({ ...query, where: { id: r.baselineDetectorPackageId } }) : null),
    }),
    generatedCount: t.exposeInt("generatedCount", { description: "Samples generated for this run." }),
    reusedCount: t.exposeInt("reusedCount", { description: "Samples reused from earlier runs and jobs (same scenario version, model hashes, sampler settings, seed and index)." }),
    report: t.expose("report", { type: "JSON", nullable: true, description: "Per scenario: counts, miss rates with intervals, paired tables, criteria, hardest samples." }),
    error: t.exposeString("error", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    criteria: t.relation("criteria", { description: "Every criterion's result, in report order.", query: { orderBy: { position: "asc" } } }),
  }),
});

builder.queryFields((t) => ({
  suites: t.prismaConnection(
    {
      type: "Suite",
      cursor: "id",
      description: "Validation suites, by name.",
      resolve: (query, _root, _args, ctx) => ctx.db.prisma.suite.findMany({ ...query, orderBy: { name: "asc" } }),
      totalCount: (_connection, _args, ctx) => ctx.db.prisma.suite.count(),
    },
    {},
  ),
  suite: t.prismaField({
    type: "Suite",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const suite = await ctx.db.prisma.suite.findUnique({ ...query, where: { id: decodeGlobalId("Suite", args.id) } });
      if (!suite) throw new NotFoundError("suite", args.id.id);
      return suite;
    },
  }),
  suiteRun: t.prismaField({
    type: "SuiteRun",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const run = await ctx.db.prisma.suiteRun.findUnique({ ...query, where: { id: decodeGlobalId("SuiteRun", args.id) } });
      if (!run) throw new NotFoundError("suite run", args.id.id);
      return run;
    },
  }),
}));

builder.mutationFields((t) => ({
  createSuite: t.prismaField({
    type: "Suite",
    description: "Defines a suite (the same shape as a suites/*.yaml file); its scenarios must exist and be visible to the key.",
    args: { spec: t.arg({ type: "JSON", required: true }) },
    errors: { types: [ValidationError, AlreadyExistsError] },
    resolve: async (query, _root, args, ctx) => {
      const created = await ctx.suites.create(args.spec, "API");
      return ctx.db.prisma.suite.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateSuite: t.prismaField({
    type: "Suite",
    description: "Creates a new version; runs of older versions keep pointing at them.",
    args: {
      id: t.arg.globalID({ required: true }),
      spec: t.arg({ type: "JSON", required: true }),
      expectedVersion: t.arg.int({ required: false, description: "Refuse with VersionConflictError unless this is still the latest version." }),
    },
    errors: { types: [ValidationError, NotFoundError, VersionConflictError] },
    resolve: async (query, _root, args, ctx) => {
      const updated = await ctx.suites.update(decodeGlobalId("Suite", args.id), args.spec, args.expectedVersion);
      return ctx.db.prisma.suite.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  runSuite: t.prismaField({
    type: "SuiteRun",
    description:
      "Runs the suite's latest version for a detector (and a baseline): generates only the samples not made before, scores both detectors on the same valid samples and evaluates every criterion. Returns at once; follow it with suiteRunProgress or suiteRun.",
    args: {
      suiteId: t.arg.globalID({ required: true }),
      detectorId: t.arg.globalID({ required: true }),
      baselineDetectorId: t.arg.globalID({ required: false }),
      quality: t.arg({ type: SamplingQualityEnum, required: false, description: "Overrides every scenario's quality for this run (default: each scenario's, else the suite's `quality`, else DEFAULT)." }),
    },
    errors: { types: [ValidationError, NotFoundError, ArchivedError, DetectorUnusableError] },
    resolve: async (query, _root, args, ctx) => {
      const run = await ctx.suites.start({
        suiteId: decodeGlobalId("Suite", args.suiteId),
        detectorId: decodeGlobalId("DetectorPackage", args.detectorId),
        baselineDetectorId: args.baselineDetectorId ? decodeGlobalId("DetectorPackage", args.baselineDetectorId) : null,
        quality: args.quality ?? null,
      });
      return ctx.db.prisma.suiteRun.findUniqueOrThrow({ ...query, where: { id: run.id } });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  suiteRunProgress: t.prismaField({
    type: "SuiteRun",
    description: "The run whenever its sample counts or state change, until it ends (SSE, like jobProgress).",
    args: { runId: t.arg.globalID({ required: true }) },
    subscribe: (_root, args, ctx) => ctx.suites.progress(decodeGlobalId("SuiteRun", args.runId)),
    resolve: (query, run, _args, ctx) => ctx.db.prisma.suiteRun.findUniqueOrThrow({ ...query, where: { id: run.id } }),
  }),
}));
