// Scenarios: browse, define, version, archive, import the YAML library, preview drawn parameters.
import { AlreadyExistsError, ArchivedError, NotFoundError, ValidationError, VersionConflictError } from "../../errors.ts";
import { MAX_PREVIEW_COUNT, type ImportOutcome } from "../../scenarios/index.ts";
import { builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";

export const DomainEnum = builder.enumType("Domain", { values: ["AUTOMOTIVE", "MEDICAL"] as const });
const ScenarioSourceEnum = builder.enumType("ScenarioSource", { values: ["LIBRARY", "API", "SEARCH"] as const });

// Select mode: a row brings only the columns the query asks for (BENCHMARKS "API latency").
export const ScenarioVersionRef = builder.prismaNode("ScenarioVersion", {
  id: { field: "id" },
  select: { id: true },
  description: "One immutable specification of a scenario. Samples point at the version they were made from.",
  fields: (t) => ({
    version: t.exposeInt("version"),
    spec: t.expose("spec", { type: "JSON", description: "The validated specification (defaults applied)." }),
    specHash: t.exposeString("specHash"),
    source: t.expose("source", { type: ScenarioSourceEnum }),
    derivedFrom: t.expose("derivedFrom", { type: "JSON", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    scenario: t.relation("scenario"),
  }),
});

export const ScenarioRef = builder.prismaNode("Scenario", {
  id: { field: "id" },
  select: { id: true },
  description: "A rare situation to synthesise, e.g. a deer crossing a motorway at night in fog.",
  fields: (t) => ({
    uuid: t.exposeString("id", { description: "The database id (the `id` field is the Relay global id)." }),
    name: t.exposeString("name"),
    domain: t.expose("domain", { type: DomainEnum }),
    description: t.exposeString("description"),
    tags: t.exposeStringList("tags"),
    modelName: t.exposeString("modelName"),
    latestVersion: t.exposeInt("latestVersion"),
    archived: t.boolean({ select: { archivedAt: true }, resolve: (s) => s.archivedAt !== null }),
    archivedAt: t.expose("archivedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    currentVersion: t.prismaField({
      type: "ScenarioVersion",
      description: "The latest version.",
      select: { latestVersion: true },
      resolve: (query, scenario, _args, ctx) =>
        ctx.db.prisma.scenarioVersion.findUniqueOrThrow({
          ...query,
          where: { scenarioId_version: { scenarioId: scenario.id, version: scenario.latestVersion } },
        }),
    }),
    versions: t.relatedConnection("versions", { cursor: "id", query: { orderBy: { version: "desc" } }, totalCount: true }),
  }),
});

const ImportOutcomeRef = builder.objectRef<ImportOutcome>("ImportOutcome").implement({
  description: "What an import did, by scenario name.",
  fields: (t) => ({
    created: t.exposeStringList("created"),
    updated: t.exposeStringList("updated", { description: "Changed content: a new version was created." }),
    unchanged: t.exposeStringList("unchanged"),
  }),
});

builder.queryFields((t) => ({
  scenarios: t.prismaConnection(
    {
      type: "Scenario",
      cursor: "id",
      description: "The scenario library, filtered by domain, tag and free text (name, description).",
      args: {
        domain: t.arg({ type: DomainEnum, required: false }),
        tag: t.arg.string({ required: false }),
        text: t.arg.string({ required: false }),
        includeArchived: t.arg.boolean({ required: false, defaultValue: false }),
      },
      resolve: (query, _root, args, ctx) =>
        ctx.db.prisma.scenario.findMany({
          ...query,
          where: scenarioFilter(args),
          orderBy: { name: "asc" },
        }),
      totalCount: (_connection, args, ctx) => ctx.db.prisma.scenario.count({ where: scenarioFilter(args) }),
    },
    {},
  ),
  scenario: t.prismaField({
    type: "Scenario",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeGlobalId("Scenario", args.id);
      const scenario = await ctx.db.prisma.scenario.findUnique({ ...query, where: { id } });
      if (!scenario) throw new NotFoundError("scenario", args.id.id);
      return scenario;
    },
  }),
  previewParameters: t.field({
    type: ["JSON"],
    description: `Parameters that samples 0…count-1 would draw with this seed (count ≤ ${MAX_PREVIEW_COUNT}); deterministic.`,
    args: {
      scenarioId: t.arg.globalID({ required: true }),
      count: t.arg.int({ required: true }),
      seed: t.arg.int({ required: true }),
    },
    errors: { types: [NotFoundError, ValidationError] },
    resolve: (_root, args, ctx) => ctx.scenarios.preview(decodeGlobalId("Scenario", args.scenarioId), args.count, args.seed),
  }),
}));

builder.mutationFields((t) => ({
  createScenario: t.prismaField({
    type: "Scenario",
    description: "Defines a scenario from a specification (the same shape as a scenarios/*.yaml file).",
    args: { spec: t.arg({ type: "JSON", required: true }) },
    errors: { types: [ValidationError, AlreadyExistsError] },
    resolve: async (query, _root, args, ctx) => {
      const created = await ctx.scenarios.create(args.spec, "API");
      return ctx.db.prisma.scenario.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateScenario: t.prismaField({
    type: "Scenario",
    description: "Creates a new version; samples made from older versions keep pointing at them.",
    args: {
      id: t.arg.globalID({ required: true }),
      spec: t.arg({ type: "JSON", required: true }),
      expectedVersion: t.arg.int({ required: false, description: "Refuse with VersionConflictError unless this is still the latest version." }),
    },
    errors: { types: [ValidationError, NotFoundError, VersionConflictError, ArchivedError] },
    resolve: async (query, _root, args, ctx) => {
      const updated = await ctx.scenarios.update(decodeGlobalId("Scenario", args.id), args.spec, args.expectedVersion);
      return ctx.db.prisma.scenario.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  archiveScenario: t.prismaField({
    type: "Scenario",
    description: "Hides a scenario from the library and from new jobs; its versions and samples stay.",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const archived = await ctx.scenarios.archive(decodeGlobalId("Scenario", args.id));
      return ctx.db.prisma.scenario.findUniqueOrThrow({ ...query, where: { id: archived.id } });
    },
  }),
  importScenarios: t.field({
    type: ImportOutcomeRef,
    description: "Imports YAML documents (separated by ---), all or nothing; unchanged content creates no version.",
    args: { yaml: t.arg.string({ required: true }) },
    errors: { types: [ValidationError] },
    resolve: (_root, args, ctx) => ctx.scenarios.importYaml(args.yaml, "API"),
  }),
}));

function scenarioFilter(args: { domain?: "AUTOMOTIVE" | "MEDICAL" | null; tag?: string | null; text?: string | null; includeArchived?: boolean | null }) {
  return {
    ...(args.includeArchived ? {} : { archivedAt: null }),
    ...(args.domain ? { domain: args.domain } : {}),
    ...(args.tag ? { tags: { has: args.tag } } : {}),
    ...(args.text
      ? {
          OR: [
            { name: { contains: args.text, mode: "insensitive" as const } },
            { description: { contains: args.text, mode: "insensitive" as const } },
          ],
        }
      : {}),
  };
}
