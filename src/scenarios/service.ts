// Scenario service: validation (zod spec + the model's condition layout), versioning and storage.
// Resolvers stay thin; every expected failure is a typed DomainError and nothing is half-written:
// each change is one transaction.
import { canSeeDomain } from "../access/index.ts";
import type { Database, Prisma, PrismaClient } from "../db/index.ts";
import { AlreadyExistsError, ArchivedError, NotFoundError, ValidationError, VersionConflictError, type FieldIssue } from "../errors.ts";
import { canonicalSpecHash } from "./hash.ts";
import { checkScenarioAgainstModel, type ConditionLayout } from "./compatibility.ts";
import { drawParameters, type DrawnParameters } from "./draw.ts";
import { parseScenarioSpec, type ScenarioSpec } from "./spec.ts";
import { parseScenarioYaml } from "./library.ts";
import type { ModelCatalog } from "./model-catalog.ts";

type Tx = Prisma.TransactionClient;
type Source = "LIBRARY" | "API" | "SEARCH";

export interface ImportOutcome {
  created: string[];
  updated: string[];
  unchanged: string[];
}

export const MAX_PREVIEW_COUNT = 1000;

const toDbDomain = (domain: ScenarioSpec["domain"]): "AUTOMOTIVE" | "MEDICAL" => (domain === "automotive" ? "AUTOMOTIVE" : "MEDICAL");

/** Checks a background scenario against its reference set (the frames' sizes and cameras): uploads' ReferenceSetService. */
export interface BackgroundCatalog {
  /** Issues (paths from the spec's root, e.g. `background.referenceSet`); none when every drawable box fits every frame. */
  check(spec: ScenarioSpec, layout: ConditionLayout): Promise<FieldIssue[]>;
}

export class ScenarioService {
  constructor(
    private readonly db: Database,
    private readonly models: ModelCatalog,
    /** Without it, scenarios with a background are refused. */
    private readonly backgrounds: BackgroundCatalog | null = null,
  ) {}

  private get prisma(): PrismaClient {
    return this.db.prisma;
  }

  /** Parses and checks a spec against its model; throws ValidationError naming every bad field. */
  async validate(input: unknown, pathPrefix = ""): Promise<ScenarioSpec> {
    const parsed = parseScenarioSpec(input);
    const prefix = (issues: FieldIssue[]) => issues.map((i) => ({ ...i, path: [pathPrefix, i.path].filter(Boolean).join(".") }));
    if (!parsed.ok) throw new ValidationError(prefix(parsed.issues), "invalid scenario");
    // a model of a domain the caller cannot see does not exist for it
    const visible = canSeeDomain(toDbDomain(parsed.spec.domain));
    const layout = visible ? await this.models.layout(parsed.spec.model) : null;
    if (!layout) {
      const available = visible ? await this.models.names() : [];
      throw new ValidationError(
        prefix([{ path: "model", message: `unknown model "${parsed.spec.model}"; installed: ${available.join(", ") || "none"}` }]),
        "invalid scenario",
      );
    }
    const issues = checkScenarioAgainstModel(parsed.spec, layout);
    if (issues.length === 0 && parsed.spec.background) {
      if (this.backgrounds) issues.push(...(await this.backgrounds.check(parsed.spec, layout)));
      else issues.push({ path: "background", message: "reference-set backgrounds cannot be checked here (no reference sets in this process)" });
    }
    if (issues.length > 0) throw new ValidationError(prefix(issues), "invalid scenario");
    return parsed.spec;
  }

  async create(input: unknown, source: Source = "API") {
    const spec = await this.validate(input);
    return this.prisma.$transaction(async (tx) => {
      if (await tx.scenario.findUnique({ where: { name: spec.name }, select: { id: true } })) throw new AlreadyExistsError("scenario", spec.name);
      return this.insert(tx, spec, source);
    });
  }

  /** A new immutable version; samples made from older versions keep pointing at them. */
  async update(id: string, input: unknown, expectedVersion?: number | null) {
    const spec = await this.validate(input);
    return this.prisma.$transaction(async (tx) => {
      const scenario = await tx.scenario.findUnique({ where: { id } });
      if (!scenario) throw new NotFoundError("scenario", id);
      if (scenario.archivedAt) throw new ArchivedError("scenario", scenario.name);
      if (spec.name !== scenario.name)
        throw new ValidationError([{ path: "name", message: `a scenario keeps its name: expected "${scenario.name}"` }], "invalid scenario");
      if (expectedVersion != null && expectedVersion !== scenario.latestVersion) throw new VersionConflictError(expectedVersion, scenario.latestVersion);
      return this.appendVersion(tx, scenario.id, scenario.latestVersion, spec, "API");
    });
  }

  async archive(id: string) {
    const scenario = await this.prisma.scenario.findUnique({ where: { id } });
    if (!scenario) throw new NotFoundError("scenario", id);
    if (scenario.archivedAt) return scenario;
    return this.prisma.scenario.update({ where: { id }, data: { archivedAt: new Date() } });
  }

  /**
   * Imports YAML documents, all or nothing: new names are created, changed content gets a new version,
   * unchanged content is left alone (importing the same library twice writes nothing).
   */
  async importYaml(yaml: string, source: Source = "API"): Promise<ImportOutcome> {
    const parsed = parseScenarioYaml(yaml);
    if (!parsed.ok) throw new ValidationError(parsed.issues, "invalid scenario YAML");
    return this.importSpecs(
      parsed.specs.map((spec, i) => ({ label: parsed.specs.length > 1 ? `[${i}]` : "", spec })),
      source,
    );
  }

  /** Imports labelled specs (the label, e.g. a file name, prefixes every issue's path). */
  async importSpecs(inputs: Array<{ label: string; spec: unknown }>, source: Source): Promise<ImportOutcome> {
    const specs: ScenarioSpec[] = [];
    const issues: FieldIssue[] = [];
    for (const { label, spec: input } of inputs) {
      try {
        specs.push(await this.validate(input, label));
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
    }
    if (issues.length > 0) throw new ValidationError(issues, "invalid scenario");
    return this.prisma.$transaction(
      async (tx) => {
        const outcome: ImportOutcome = { created: [], updated: [], unchanged: [] };
        for (const spec of specs) {
          const existing = await tx.scenario.findUnique({
            where: { name: spec.name },
            include: { versions: { orderBy: { version: "desc" }, take: 1 } },
          });
          if (!existing) {
            await this.insert(tx, spec, source);
            outcome.created.push(spec.name);
          } else if (existing.versions[0]?.specHash === canonicalSpecHash(spec)) {
            outcome.unchanged.push(spec.name);
          } else {
            await this.appendVersion(tx, existing.id, existing.latestVersion, spec, source);
            outcome.updated.push(spec.name);
          }
        }
        return outcome;
      },
      { timeout: 60_000 },
    );
  }

  async preview(id: string, count: number, seed: number): Promise<DrawnParameters[]> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_PREVIEW_COUNT)
      throw new ValidationError([{ path: "count", message: `must be an integer from 1 to ${MAX_PREVIEW_COUNT}` }]);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new ValidationError([{ path: "seed", message: "must be a non-negative integer" }]);
    const version = await this.latestVersion(id);
    const spec = version.spec as unknown as ScenarioSpec;
    return Array.from({ length: count }, (_, index) => drawParameters(spec, seed, index));
  }

  async latestVersion(id: string) {
    const scenario = await this.prisma.scenario.findUnique({
      where: { id },
      include: { versions: { orderBy: { version: "desc" }, take: 1 } },
    });
    const version = scenario?.versions[0];
    if (!scenario || !version) throw new NotFoundError("scenario", id);
    return version;
  }

  private async insert(tx: Tx, spec: ScenarioSpec, source: Source) {
    const scenario = await tx.scenario.create({
      data: {
        name: spec.name,
        domain: toDbDomain(spec.domain),
        description: spec.description,
        tags: spec.tags,
        modelName: spec.model,
        latestVersion: 1,
        versions: { create: { version: 1, spec: spec as unknown as Prisma.InputJsonValue, specHash: canonicalSpecHash(spec), source } },
      },
    });
    return scenario;
  }

  private async appendVersion(tx: Tx, scenarioId: string, currentVersion: number, spec: ScenarioSpec, source: Source) {
    // Optimistic concurrency: only the writer that still sees `currentVersion` may advance it.
    const advanced = await tx.scenario.updateMany({
      where: { id: scenarioId, latestVersion: currentVersion },
      data: {
        latestVersion: currentVersion + 1,
        domain: toDbDomain(spec.domain),
        description: spec.description,
        tags: spec.tags,
        modelName: spec.model,
      },
    });
    if (advanced.count !== 1) {
      const actual = await tx.scenario.findUnique({ where: { id: scenarioId }, select: { latestVersion: true } });
      throw new VersionConflictError(currentVersion, actual?.latestVersion ?? -1);
    }
    await tx.scenarioVersion.create({
      data: { scenarioId, version: currentVersion + 1, spec: spec as unknown as Prisma.InputJsonValue, specHash: canonicalSpecHash(spec), source },
    });
    return tx.scenario.findUniqueOrThrow({ where: { id: scenarioId } });
  }
}
