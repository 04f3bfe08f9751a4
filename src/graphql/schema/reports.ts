// Miss-rate reports: one detector over a scenario's samples or one job's, per condition, with exact intervals.
import type { ParameterBreakdown, ParameterLevel, Proportion, DetectorReport, HardSample, OutcomeCounts } from "../../detection/index.ts";
import { NotFoundError, ValidationError } from "../../errors.ts";
import { artifactUrl, builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { ScoreOutcomeEnum } from "./detectors.ts";

export const ProportionRef = builder.objectRef<Proportion>("Proportion").implement({
  description: "A miss (or failure) rate with its exact two-sided Clopper-Pearson interval.",
  fields: (t) => ({
    n: t.exposeInt("n", { description: "Samples (trials)." }),
    misses: t.exposeInt("misses"),
    rate: t.exposeFloat("rate"),
    lower: t.exposeFloat("lower"),
    upper: t.exposeFloat("upper"),
    level: t.exposeFloat("level", { description: "Confidence level, 0.95." }),
  }),
});

const ParameterLevelRef = builder.objectRef<ParameterLevel>("ParameterLevel").implement({
  description: "The miss rate at one value of a categorical parameter, or in one bin [lo, hi) of a continuous one (the last bin includes hi).",
  fields: (t) => ({
    value: t.field({ type: "JSON", nullable: true, resolve: (l) => l.value }),
    bin: t.floatList({ nullable: true, resolve: (l) => (l.bin ? [...l.bin] : null) }),
    label: t.string({ resolve: (l) => (l.bin ? `[${l.bin[0].toFixed(3)}, ${l.bin[1].toFixed(3)})` : String(l.value)) }),
    n: t.exposeInt("n"),
    misses: t.exposeInt("misses"),
    rate: t.exposeFloat("rate"),
    lower: t.exposeFloat("lower"),
    upper: t.exposeFloat("upper"),
  }),
});

const ParameterBreakdownRef = builder.objectRef<ParameterBreakdown>("ParameterBreakdown").implement({
  fields: (t) => ({
    parameter: t.exposeString("parameter"),
    kind: t.exposeString("kind", { description: "categorical | binned" }),
    levels: t.field({ type: [ParameterLevelRef], resolve: (b) => [...b.levels] }),
  }),
});

const OutcomeCountsRef = builder.objectRef<OutcomeCounts>("OutcomeCounts").implement({
  fields: (t) => ({
    hit: t.int({ resolve: (c) => c.HIT }),
    miss: t.int({ resolve: (c) => c.MISS }),
    wrongClass: t.int({ resolve: (c) => c.WRONG_CLASS }),
    invalid: t.int({ resolve: (c) => c.INVALID }),
  }),
});

const HardSampleRef = builder.objectRef<HardSample>("HardSample").implement({
  description: "A sample the detector missed or found with low confidence, with a link to its file.",
  fields: (t) => ({
    outcome: t.field({ type: ScoreOutcomeEnum, resolve: (h) => h.outcome as "MISS" }),
    confidence: t.exposeFloat("confidence", { nullable: true }),
    parameters: t.field({ type: "JSON", resolve: (h) => h.parameters }),
    artifactUrl: t.string({ nullable: true, description: "URL of the image on this service (/artifacts/<sha256>, signed for browsers).", resolve: (h, _args, ctx) => (h.artifactSha256 ? artifactUrl(ctx, h.artifactSha256) : null) }),
    sample: t.prismaField({ type: "Sample", resolve: (query, h, _args, ctx) => ctx.db.prisma.sample.findUniqueOrThrow({ ...query, where: { id: h.sampleId } }) }),
  }),
});

const DetectorReportRef = builder.objectRef<DetectorReport>("DetectorReport").implement({
  description: "A detector's miss rate over a scenario's or a job's samples: overall and per parameter, each with n and a 95 % Clopper-Pearson interval. Samples the realism gate refused (INVALID) are counted and excluded.",
  fields: (t) => ({
    scope: t.exposeString("scope", { description: "scenario | job" }),
    scopeId: t.exposeString("scopeId"),
    detector: t.prismaField({ type: "DetectorPackage", resolve: (query, r, _args, ctx) => ctx.db.prisma.detectorPackage.findUniqueOrThrow({ ...query, where: { id: r.detectorId } }) }),
    samples: t.exposeInt("samples", { description: "Generated samples in scope." }),
    failedSamples: t.exposeInt("failedSamples", { description: "Samples whose generation failed." }),
    unscored: t.exposeInt("unscored", { description: "Samples this detector has not scored (see scoreSamples)." }),
    invalidCount: t.exposeInt("invalidCount", { description: "Samples the realism gate refused, excluded from every rate." }),
    outcomes: t.field({ type: OutcomeCountsRef, resolve: (r) => r.outcomes }),
    overall: t.field({ type: ProportionRef, nullable: true, resolve: (r) => r.overall }),
    byParameter: t.field({ type: [ParameterBreakdownRef], resolve: (r) => [...r.byParameter] }),
    hardest: t.field({ type: [HardSampleRef], description: "Misses first, then the lowest confidences.", resolve: (r) => r.hardest }),
  }),
});

builder.queryFields((t) => ({
  scenarioReport: t.field({
    type: DetectorReportRef,
    description: "Miss rate of a detector over a scenario's samples (all versions; failure-search iterations excluded).",
    args: {
      scenarioId: t.arg.globalID({ required: true }),
      detectorId: t.arg.globalID({ required: true }),
      bins: t.arg.int({ required: false, description: "Equal-width bins per continuous parameter (default 5)." }),
      hardest: t.arg.int({ required: false, description: "Hardest samples to list (default 10)." }),
    },
    errors: { types: [NotFoundError, ValidationError] },
    resolve: (_root, args, ctx) =>
      ctx.reports.scenarioReport(decodeGlobalId("Scenario", args.scenarioId), decodeGlobalId("DetectorPackage", args.detectorId), { bins: args.bins, hardest: args.hardest }),
  }),
  jobReport: t.field({
    type: DetectorReportRef,
    description: "Miss rate of a detector over one job's samples.",
    args: {
      jobId: t.arg.globalID({ required: true }),
      detectorId: t.arg.globalID({ required: true }),
      bins: t.arg.int({ required: false }),
      hardest: t.arg.int({ required: false }),
    },
    errors: { types: [NotFoundError, ValidationError] },
    resolve: (_root, args, ctx) =>
      ctx.reports.jobReport(decodeGlobalId("GenerationJob", args.jobId), decodeGlobalId("DetectorPackage", args.detectorId), { bins: args.bins, hardest: args.hardest }),
  }),
}));
