// Failure search: start one (a series of generation jobs), follow it, read its iterations, failure samples
// and the derived scenario it exported.
import { ArchivedError, NotFoundError, ValidationError } from "../../errors.ts";
import { SEARCH_DEFAULTS, searchFailuresWhere, searchFailureRate, searchNominalFailureRate, type NominalFailureRate, type SearchIterationRecord } from "../../search/index.ts";
import { DetectorUnusableError } from "../../detection/index.ts";
import { builder } from "../builder.ts";
import { SamplerEnum, SAMPLING_DEFAULT_DESCRIPTIONS } from "./sampling.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { ProportionRef } from "./reports.ts";

const SearchMethodEnum = builder.enumType("SearchMethod", {
  description: "CEM: cross-entropy method; RANDOM: uniform over the scenario's ranges; HALTON: a Halton low-discrepancy design. Same budget and batches.",
  values: ["CEM", "RANDOM", "HALTON"] as const,
});
const SearchStatusEnum = builder.enumType("SearchStatus", { values: ["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const });

const SearchIterationRef = builder.objectRef<SearchIterationRecord>("SearchIteration").implement({
  description: "One iteration: one generation job of `n` proposals, scored by the detector.",
  fields: (t) => ({
    iteration: t.exposeInt("iteration"),
    n: t.exposeInt("n"),
    failures: t.exposeInt("failures", { description: "MISS or WRONG_CLASS among the valid samples." }),
    invalid: t.exposeInt("invalid", { description: "Refused by the realism gate (not failures)." }),
    valid: t.exposeInt("valid"),
    failureRate: t.exposeFloat("failureRate", { description: "failures / valid." }),
    job: t.prismaField({ type: "GenerationJob", resolve: (query, i, _args, ctx) => ctx.db.prisma.generationJob.findUniqueOrThrow({ ...query, where: { id: i.jobId } }) }),
  }),
});

const NominalFailureRateRef = builder.objectRef<NominalFailureRate>("NominalFailureRate").implement({
  description:
    "The failure rate under the scenario's own parameter distribution, estimated from the search's samples: each valid sample weighted by the scenario's density over the mixture of the iterations' proposals (self-normalised importance sampling, Owen & Zhou 2000), the interval Wilson's at Kish's effective sample size.",
  fields: (t) => ({
    estimate: t.exposeFloat("estimate"),
    lower: t.exposeFloat("lower"),
    upper: t.exposeFloat("upper"),
    effectiveSampleSize: t.exposeFloat("effectiveSampleSize", { description: "(Σw)² / Σw²: the interval is as wide as that of this many direct draws." }),
    level: t.exposeFloat("level", { description: "Confidence level, 0.95." }),
    method: t.exposeString("method"),
  }),
});

builder.prismaNode("FailureSearch", {
  id: { field: "id" },
  description: "A closed-loop search for the conditions where a detector fails, run as one generation job per iteration.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    method: t.expose("method", { type: SearchMethodEnum }),
    status: t.expose("status", { type: SearchStatusEnum }),
    budget: t.exposeInt("budget"),
    batchSize: t.exposeInt("batchSize", { description: "Samples per iteration." }),
    seed: t.float({ resolve: (s) => Number(s.seed) }),
    sampler: t.exposeString("sampler"),
    steps: t.exposeInt("steps"),
    guidance: t.exposeFloat("guidance"),
    settings: t.expose("settings", { type: "JSON" }),
    evaluatedCount: t.exposeInt("evaluatedCount"),
    failureCount: t.exposeInt("failureCount"),
    failureRate: t.field({
      type: ProportionRef,
      nullable: true,
      description: "Failures over validly scored samples so far, with the exact interval: the rate under the search's proposals, which are shifted towards failures.",
      resolve: (s) => searchFailureRate(s),
    }),
    nominalFailureRate: t.field({
      type: NominalFailureRateRef,
      nullable: true,
      description:
        "The failure rate under the scenario's own distribution, estimated from the same samples by importance sampling (reported beside the raw failureRate, which is not the scenario's). Null before any valid sample, or for a CEM search recorded before proposals were stored.",
      resolve: (s, _args, ctx) => searchNominalFailureRate(ctx.db, s),
    }),
    iterations: t.field({ type: [SearchIterationRef], resolve: (s) => s.iterations as unknown as SearchIterationRecord[] }),
    distribution: t.expose("distribution", { type: "JSON", nullable: true, description: "The proposal distribution after the last iteration (learned for CEM)." }),
    error: t.exposeString("error", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    scenarioVersion: t.relation("scenarioVersion"),
    detector: t.relation("detectorPackage"),
    derivedScenario: t.relation("derivedScenario", { nullable: true, description: "CEM: the learned distribution as a scenario (source SEARCH, derivedFrom names this search)." }),
    jobs: t.relatedConnection("jobs", { cursor: "id", query: { orderBy: { createdAt: "asc" } }, totalCount: true }),
    failureSamples: t.prismaConnection(
      {
        type: "Sample",
        cursor: "id",
        description: "Samples of the search the detector missed (or found as the wrong class), lowest confidence first.",
        resolve: (query, search, _args, ctx) =>
          ctx.db.prisma.sample.findMany({ ...query, where: searchFailuresWhere(search), orderBy: [{ createdAt: "asc" }, { id: "asc" }] }),
        totalCount: (search, _args, ctx) => ctx.db.prisma.sample.count({ where: searchFailuresWhere(search) }),
      },
      {},
    ),
  }),
});

builder.queryFields((t) => ({
  failureSearch: t.prismaField({
    type: "FailureSearch",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const search = await ctx.db.prisma.failureSearch.findUnique({ ...query, where: { id: decodeGlobalId("FailureSearch", args.id) } });
      if (!search) throw new NotFoundError("failure search", args.id.id);
      return search;
    },
  }),
  failureSearches: t.prismaConnection(
    {
      type: "FailureSearch",
      cursor: "id",
      description: "Failure searches, newest first, optionally of one scenario.",
      args: { scenarioId: t.arg.globalID({ required: false }) },
      resolve: (query, _root, args, ctx) =>
        ctx.db.prisma.failureSearch.findMany({
          ...query,
          where: args.scenarioId ? { scenarioVersion: { scenarioId: decodeGlobalId("Scenario", args.scenarioId) } } : {},
          orderBy: [{ createdAt: "desc" }, { id: "asc" }],
        }),
      totalCount: (_connection, args, ctx) =>
        ctx.db.prisma.failureSearch.count({ where: args.scenarioId ? { scenarioVersion: { scenarioId: decodeGlobalId("Scenario", args.scenarioId) } } : {} }),
    },
    {},
  ),
}));

builder.mutationFields((t) => ({
  startFailureSearch: t.prismaField({
    type: "FailureSearch",
    description:
      "Searches the scenario's parameters for where the detector fails: `budget` samples in iterations of `batchSize`, each a generation job scored by the detector. Returns at once; follow it with searchProgress.",
    args: {
      scenarioId: t.arg.globalID({ required: true }),
      detectorId: t.arg.globalID({ required: true }),
      budget: t.arg.int({ required: true, description: "Samples to generate and score in all (> 0)." }),
      method: t.arg({ type: SearchMethodEnum, required: true }),
      batchSize: t.arg.int({ required: false, description: `Samples per iteration (default ${SEARCH_DEFAULTS.batchSize}).` }),
      seed: t.arg.int({ required: false, description: "Default 0; the same seed gives the same proposals." }),
      sampler: t.arg({ type: SamplerEnum, required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.sampler }),
      steps: t.arg.int({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.steps }),
      guidance: t.arg.float({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.guidance }),
      executionProvider: t.arg.string({ required: false }),
      eliteFraction: t.arg.float({ required: false, description: `CEM: elite fraction (default ${SEARCH_DEFAULTS.eliteFraction}).` }),
      smoothing: t.arg.float({ required: false, description: `CEM: smoothing (default ${SEARCH_DEFAULTS.smoothing}).` }),
    },
    errors: { types: [ValidationError, NotFoundError, ArchivedError, DetectorUnusableError] },
    resolve: async (query, _root, args, ctx) => {
      const search = await ctx.searches.start({
        ...args,
        scenarioId: decodeGlobalId("Scenario", args.scenarioId),
        detectorId: decodeGlobalId("DetectorPackage", args.detectorId),
      });
      return ctx.db.prisma.failureSearch.findUniqueOrThrow({ ...query, where: { id: search.id } });
    },
  }),
  cancelFailureSearch: t.prismaField({
    type: "FailureSearch",
    description: "Stops a running search after cancelling its current iteration's job; iterations already done stay.",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = await ctx.searches.cancel(decodeGlobalId("FailureSearch", args.id));
      return ctx.db.prisma.failureSearch.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  searchProgress: t.prismaField({
    type: "FailureSearch",
    description: "The search after each iteration and state change, until it ends (SSE, like jobProgress).",
    args: { searchId: t.arg.globalID({ required: true }) },
    subscribe: (_root, args, ctx) => ctx.searches.progress(decodeGlobalId("FailureSearch", args.searchId)),
    resolve: (query, search, _args, ctx) => ctx.db.prisma.failureSearch.findUniqueOrThrow({ ...query, where: { id: search.id } }),
  }),
}));
