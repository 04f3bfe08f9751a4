// Suite service: definitions (validated against the scenarios they name and their models' sampling rules,
// versioned like scenarios) and runs. A run, for each scenario: find the samples it needs by their identity
// (scenario version, model file hashes, sampler settings, seed, index), generate only the missing indices
// through the job service, score the candidate (and the baseline) on exactly those samples, evaluate every
// criterion, and store the run with one row per criterion. Nothing is written on a refused request.
import type { Config } from "../config.ts";
import { currentCaller, runAsSystem } from "../access/index.ts";
import { runDetached, type Database, type Prisma } from "../db/index.ts";
import type { DetectorService } from "../detection/index.ts";
import { resolveSamplingSettings, type SamplingQuality } from "../diffusion/index.ts";
import { AlreadyExistsError, ArchivedError, NotFoundError, ValidationError, VersionConflictError, type FieldIssue } from "../errors.ts";
import { changeSnapshots, JobEvents, type JobService } from "../jobs/index.ts";
import type { Logger } from "../logger.ts";
import { canonicalJsonHash, type ParameterValue, type ScenarioSpec } from "../scenarios/index.ts";
import type { SuiteRun } from "../generated/prisma/client.ts";
import { evaluateSuite, type ScenarioEvidence, type StoredOutcome, type SuiteReport, type SuiteSample } from "./evaluate.ts";
import { SuiteRunError } from "./errors.ts";
import type { SuiteRunSummary } from "./outputs.ts";
import { parseSuiteSpec, type SuiteScenario, type SuiteSpec } from "./spec.ts";

type Source = "LIBRARY" | "API";
type Tx = Prisma.TransactionClient;

export interface SuiteRunRequest {
  suiteId: string;
  detectorId: string;
  baselineDetectorId?: string | null;
  /** Overrides every scenario's quality for this run (runSuite's `quality`). */
  quality?: SamplingQuality | null;
}

export interface SuiteImportOutcome {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** One scenario of a run, resolved: the scenario version and the sampling settings its samples are made with. */
interface ScenarioPlan {
  entry: SuiteScenario;
  scenarioId: string;
  scenarioVersionId: string;
  scenarioVersion: number;
  spec: ScenarioSpec;
  sampler: string;
  steps: number;
  guidance: number;
  /** Where the settings came from; "default" unless the run, the suite or the entry asked for fast. */
  quality: SamplingQuality;
}

/** A stored sample a run uses. */
interface RunSample {
  id: string;
  index: number;
  parameters: Record<string, ParameterValue>;
}

export class SuiteService {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** In-process notifications keyed by run id (progress subscriptions also poll the row). */
  readonly events = new JobEvents();

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly jobs: JobService,
    private readonly detectors: DetectorService,
    private readonly logger: Logger,
  ) {}

  /** Parses a definition and checks it against the scenarios it names (visible to the caller) and their models. */
  async validate(input: unknown, pathPrefix = ""): Promise<{ spec: SuiteSpec; domains: string[] }> {
    const prefixed = (issues: FieldIssue[]) => issues.map((i) => ({ ...i, path: [pathPrefix, i.path].filter(Boolean).join(".") }));
    const parsed = parseSuiteSpec(input);
    if (!parsed.ok) throw new ValidationError(prefixed(parsed.issues), "invalid suite");
    const issues: FieldIssue[] = [];
    const domains = new Set<string>();
    for (const [i, entry] of parsed.spec.scenarios.entries()) {
      const at = (path: string, message: string) => issues.push({ path: `scenarios.${i}.${path}`, message });
      const collect = async (check: () => Promise<void>) => {
        try {
          await check();
        } catch (error) {
          if (error instanceof ValidationError) error.issues.forEach((issue) => at(issue.path, issue.message));
          else if (error instanceof NotFoundError || error instanceof ArchivedError) at("scenario", error.message);
          else throw error;
        }
      };
      await collect(async () => {
        const { scenario, spec } = await this.scenarioOf(entry);
        domains.add(scenario.domain);
        const parameters = Object.keys(spec.parameters);
        entry.criteria.conditions.forEach((c, k) => {
          for (const name of Object.keys(c.where))
            if (!parameters.includes(name)) at(`criteria.conditions.${k}.where.${name}`, `scenario ${entry.scenario} has no parameter "${name}" (it has ${parameters.join(", ")})`);
        });
        await collect(async () => void (await this.settingsOf(entry, spec, entry.quality ?? parsed.spec.quality)));
      });
    }
    if (issues.length > 0) throw new ValidationError(prefixed(issues), "invalid suite");
    return { spec: parsed.spec, domains: [...domains].sort() };
  }

  async create(input: unknown, source: Source = "API") {
    const { spec, domains } = await this.validate(input);
    return this.db.prisma.$transaction(async (tx) => {
      if (await tx.suite.findUnique({ where: { name: spec.name }, select: { id: true } })) throw new AlreadyExistsError("suite", spec.name);
      return this.insert(tx, spec, domains, source);
    });
  }

  /** A new immutable version; runs of older versions keep pointing at them. */
  async update(id: string, input: unknown, expectedVersion?: number | null) {
    const { spec, domains } = await this.validate(input);
    return this.db.prisma.$transaction(async (tx) => {
      const suite = await tx.suite.findUnique({ where: { id } });
      if (!suite) throw new NotFoundError("suite", id);
      if (spec.name !== suite.name) throw new ValidationError([{ path: "name", message: `a suite keeps its name: expected "${suite.name}"` }], "invalid suite");
      if (expectedVersion != null && expectedVersion !== suite.latestVersion) throw new VersionConflictError(expectedVersion, suite.latestVersion);
      return this.appendVersion(tx, suite.id, suite.latestVersion, spec, domains, "API");
    });
  }

  /** Imports definitions (suites/*.yaml, a file named on the command line): new, changed (a new version) or unchanged. */
  async importSpecs(inputs: Array<{ label: string; spec: unknown }>, source: Source): Promise<SuiteImportOutcome> {
    const validated: Array<{ spec: SuiteSpec; domains: string[] }> = [];
    const issues: FieldIssue[] = [];
    for (const { label, spec } of inputs) {
      try {
        validated.push(await this.validate(spec, label));
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
    }
    if (issues.length > 0) throw new ValidationError(issues, "invalid suite");
    return this.db.prisma.$transaction(async (tx) => {
      const outcome: SuiteImportOutcome = { created: [], updated: [], unchanged: [] };
      for (const { spec, domains } of validated) {
        const existing = await tx.suite.findUnique({ where: { name: spec.name }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
        if (!existing) {
          await this.insert(tx, spec, domains, source);
          outcome.created.push(spec.name);
        } else if (existing.versions[0]?.specHash === canonicalJsonHash(spec)) outcome.unchanged.push(spec.name);
        else {
          await this.appendVersion(tx, existing.id, existing.latestVersion, spec, domains, source);
          outcome.updated.push(spec.name);
        }
      }
      return outcome;
    });
  }

  private insert(tx: Tx, spec: SuiteSpec, domains: string[], source: Source) {
    return tx.suite.create({
      data: {
        name: spec.name,
        description: spec.description,
        domains,
        latestVersion: 1,
        versions: { create: { version: 1, spec: spec as unknown as Prisma.InputJsonValue, specHash: canonicalJsonHash(spec), source, domains } },
      },
    });
  }

  private async appendVersion(tx: Tx, suiteId: string, currentVersion: number, spec: SuiteSpec, domains: string[], source: Source) {
    // Optimistic concurrency: only the writer that still sees `currentVersion` may advance it.
    const advanced = await tx.suite.updateMany({ where: { id: suiteId, latestVersion: currentVersion }, data: { latestVersion: currentVersion + 1, description: spec.description, domains } });
    if (advanced.count !== 1) {
      const actual = await tx.suite.findUnique({ where: { id: suiteId }, select: { latestVersion: true } });
      throw new VersionConflictError(currentVersion, actual?.latestVersion ?? -1);
    }
    await tx.suiteVersion.create({ data: { suiteId, version: currentVersion + 1, spec: spec as unknown as Prisma.InputJsonValue, specHash: canonicalJsonHash(spec), source, domains } });
    return tx.suite.findUniqueOrThrow({ where: { id: suiteId } });
  }

  /** A suite by name (as the caller sees it). */
  async byName(name: string) {
    const suite = await this.db.prisma.suite.findUnique({ where: { name } });
    if (!suite) throw new NotFoundError("suite", name);
    return suite;
  }

  /** The scenario an entry names, at its latest version. */
  private async scenarioOf(entry: SuiteScenario) {
    const scenario = await this.db.prisma.scenario.findUnique({ where: { name: entry.scenario }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
    const version = scenario?.versions[0];
    if (!scenario || !version) throw new NotFoundError("scenario", entry.scenario);
    if (scenario.archivedAt) throw new ArchivedError("scenario", scenario.name);
    return { scenario, version, spec: version.spec as unknown as ScenarioSpec };
  }

  /** The entry's sampling settings, checked by diffusion's rules; defaults from the scenario's model. */
  private async settingsOf(entry: SuiteScenario, spec: ScenarioSpec, quality: SamplingQuality | undefined) {
    const manifest = await this.jobs.modelManifest(spec.model);
    return resolveSamplingSettings({ sampler: entry.sampler, steps: entry.steps, guidance: entry.guidance, seed: entry.seed, quality }, { manifest, executionProvider: this.config.executionProvider });
  }

  /** The scenario version and sampling settings an entry's samples are made with. */
  private async plan(entry: SuiteScenario, quality: SamplingQuality | undefined): Promise<ScenarioPlan> {
    const { scenario, version, spec } = await this.scenarioOf(entry);
    const settings = await this.settingsOf(entry, spec, quality);
    return {
      entry,
      scenarioId: scenario.id,
      scenarioVersionId: version.id,
      scenarioVersion: version.version,
      spec,
      sampler: settings.sampler,
      steps: settings.steps,
      guidance: settings.guidance,
      quality: settings.quality ?? "default",
    };
  }

  /**
   * Checks everything (the suite, each scenario, each detector against each scenario's classes), creates the run
   * and starts it; the run outlives the request. Nothing is written on a refusal.
   */
  async start(input: SuiteRunRequest): Promise<SuiteRun> {
    const suite = await this.db.prisma.suite.findUnique({ where: { id: input.suiteId }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
    const version = suite?.versions[0];
    if (!suite || !version) throw new NotFoundError("suite", input.suiteId);
    const spec = version.spec as unknown as SuiteSpec;
    const plans: ScenarioPlan[] = [];
    // the run's quality, else the entry's, else the suite's
    for (const entry of spec.scenarios) plans.push(await this.plan(entry, input.quality ?? entry.quality ?? spec.quality));
    for (const plan of plans) {
      await this.detectors.checkForScenario(input.detectorId, plan.spec);
      if (input.baselineDetectorId) await this.detectors.checkForScenario(input.baselineDetectorId, plan.spec);
    }
    const run = await this.db.prisma.suiteRun.create({
      data: {
        suiteVersionId: version.id,
        detectorPackageId: input.detectorId,
        baselineDetectorPackageId: input.baselineDetectorId ?? null,
        domains: version.domains,
        ownerKeyId: currentCaller()?.keyId ?? null,
      },
    });
    // as the machine: the run's jobs and scores are the owner's work, but no longer a request of the owner's key
    const controller = new AbortController();
    const done = runDetached(() => runAsSystem(() => this.execute(run, spec, plans, controller.signal))).finally(() => this.running.delete(run.id));
    this.running.set(run.id, { controller, done });
    return run;
  }

  /** Resolves when the run has ended (the CLI, tests). */
  async settled(runId: string): Promise<void> {
    await this.running.get(runId)?.done;
  }

  private async execute(run: SuiteRun, spec: SuiteSpec, plans: ScenarioPlan[], signal: AbortSignal): Promise<void> {
    try {
      const prepared: Array<{ plan: ScenarioPlan; samples: RunSample[] }> = [];
      for (const plan of plans) {
        const { samples, generated } = await this.ensureSamples(plan, run.ownerKeyId, signal);
        prepared.push({ plan, samples });
        await this.db.prisma.suiteRun.update({ where: { id: run.id }, data: { generatedCount: { increment: generated }, reusedCount: { increment: samples.length - generated } } });
        this.events.changed(run.id);
      }
      const detectorIds = [run.detectorPackageId, ...(run.baselineDetectorPackageId ? [run.baselineDetectorPackageId] : [])];
      const evidence: ScenarioEvidence[] = [];
      for (const { plan, samples } of prepared) {
        const ids = samples.map((s) => s.id);
        // idempotent: samples this detector scored before (an earlier run, a job that named it) are left as they were
        for (const detectorId of new Set(detectorIds)) await this.detectors.scoreSamples({ sampleIds: ids }, detectorId);
        evidence.push({ entry: plan.entry, scenarioVersion: plan.scenarioVersion, sampler: plan.sampler, steps: plan.steps, guidance: plan.guidance, quality: plan.quality, samples: await this.outcomes(samples, run) });
      }
      const report = evaluateSuite(spec, evidence, run.baselineDetectorPackageId !== null);
      await this.db.prisma.$transaction(async (tx) => {
        await tx.suiteRun.update({ where: { id: run.id }, data: { status: report.status, report: report as unknown as Prisma.InputJsonValue, finishedAt: new Date() } });
        await tx.suiteCriterionResult.createMany({
          data: report.scenarios
            .flatMap((s) => s.criteria)
            .map((c, position) => ({
              runId: run.id,
              position,
              scenario: c.scenario,
              kind: c.kind,
              condition: (c.condition ?? undefined) as Prisma.InputJsonValue | undefined,
              status: c.status,
              observed: c.observed,
              limit: c.limit,
              pValue: c.pValue,
              adjustedP: c.adjustedP,
              message: c.message,
            })),
        });
      });
    } catch (error) {
      this.logger.error({ err: error, runId: run.id }, "suite run could not complete");
      await this.db.prisma.suiteRun
        .update({ where: { id: run.id }, data: { status: "ERROR", error: `${(error as Error).name}: ${(error as Error).message}`, finishedAt: new Date() } })
        .catch((e: unknown) => this.logger.error({ err: e, runId: run.id }, "could not record the end of a suite run"));
    } finally {
      this.events.changed(run.id);
    }
  }

  /**
   * The samples 0..n-1 of a scenario at the plan's identity: stored ones are reused (the earliest of equals),
   * the missing indices are generated, one job per consecutive range. A sample is the same sample when its
   * scenario version, model file hashes, sampler, steps, guidance, seed and index are: its noise and parameters
   * come from (seed, index) alone. Samples of jobs with given parameters (failure searches) are other samples.
   */
  private async ensureSamples(plan: ScenarioPlan, ownerKeyId: string | null, signal: AbortSignal): Promise<{ samples: RunSample[]; generated: number }> {
    const stored = await this.storedSamples(plan);
    const missing = Array.from({ length: plan.entry.samples }, (_, i) => i).filter((i) => !stored.has(i));
    for (const range of consecutiveRanges(missing, this.config.maxSamplesPerJob)) {
      const job = await this.jobs.request({
        scenarioId: plan.scenarioId,
        count: range.count,
        firstIndex: range.first,
        sampler: plan.sampler,
        steps: plan.steps,
        guidance: plan.guidance,
        quality: plan.quality,
        seed: plan.entry.seed,
        batchSize: Math.min(range.count, this.config.maxBatchSize, 16),
        ownerKeyId,
      });
      await this.waitForJob(job.id, signal);
    }
    const after = missing.length > 0 ? await this.storedSamples(plan) : stored;
    const lacking = plan.entry.samples - after.size;
    if (lacking > 0) {
      const failed = await this.db.prisma.sample.findFirst({
        where: { scenarioVersionId: plan.scenarioVersionId, seed: BigInt(plan.entry.seed), status: "FAILED", index: { in: missing } },
        orderBy: { createdAt: "desc" },
        select: { index: true, error: true },
      });
      throw new SuiteRunError(
        `${lacking} of ${plan.entry.samples} samples of scenario ${plan.entry.scenario} could not be generated${failed ? ` (sample ${failed.index}: ${failed.error ?? "no error recorded"})` : ""}`,
      );
    }
    return { samples: [...after.values()].sort((a, b) => a.index - b.index), generated: missing.length };
  }

  private async storedSamples(plan: ScenarioPlan): Promise<Map<number, RunSample>> {
    const spec = plan.spec;
    const manifest = await this.jobs.modelManifest(spec.model);
    // the model rows with the same weights as the package on disk (the job service has checked its row's hashes)
    const models = await this.db.prisma.modelPackage.findMany({ where: { name: manifest.name }, select: { id: true, version: true, fileHashes: true } });
    const current = models.find((m) => m.version === manifest.version);
    const weights = current ? canonicalJsonHash(current.fileHashes) : null;
    const modelIds = models.filter((m) => canonicalJsonHash(m.fileHashes) === weights).map((m) => m.id);
    const rows = await this.db.prisma.sample.findMany({
      where: {
        scenarioVersionId: plan.scenarioVersionId,
        modelPackageId: { in: modelIds },
        sampler: plan.sampler,
        steps: plan.steps,
        guidance: plan.guidance,
        seed: BigInt(plan.entry.seed),
        index: { lt: plan.entry.samples },
        status: "OK",
        artifactId: { not: null },
        job: { searchId: null },
      },
      select: { id: true, index: true, parameters: true, job: { select: { options: true } } },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    const byIndex = new Map<number, RunSample>();
    for (const row of rows) {
      if ((row.job.options as { parameters?: unknown }).parameters !== undefined) continue;
      if (!byIndex.has(row.index)) byIndex.set(row.index, { id: row.id, index: row.index, parameters: row.parameters as Record<string, ParameterValue> });
    }
    return byIndex;
  }

  private async waitForJob(jobId: string, signal: AbortSignal): Promise<void> {
    if (await this.jobs.untilFinished(jobId, signal)) return;
    await this.jobs.cancel(jobId).catch(() => {});
    throw new SuiteRunError("the service stopped while the run was generating samples");
  }

  /** Each sample's stored outcome for the candidate and the baseline (scored just before). */
  private async outcomes(samples: RunSample[], run: SuiteRun): Promise<SuiteSample[]> {
    const scores = await this.db.prisma.score.findMany({
      where: { sampleId: { in: samples.map((s) => s.id) }, detectorPackageId: { in: [run.detectorPackageId, ...(run.baselineDetectorPackageId ? [run.baselineDetectorPackageId] : [])] } },
      select: { sampleId: true, detectorPackageId: true, outcome: true, confidence: true },
    });
    const byKey = new Map(scores.map((score) => [`${score.sampleId}|${score.detectorPackageId}`, score]));
    const scoreOf = (sampleId: string, detectorId: string) => {
      const score = byKey.get(`${sampleId}|${detectorId}`);
      if (!score) throw new SuiteRunError(`sample ${sampleId} has no score from detector ${detectorId}`);
      return score;
    };
    return samples.map((s) => {
      const candidate = scoreOf(s.id, run.detectorPackageId);
      return {
        sampleId: s.id,
        index: s.index,
        parameters: s.parameters,
        candidate: candidate.outcome as StoredOutcome,
        candidateConfidence: candidate.confidence,
        ...(run.baselineDetectorPackageId ? { baseline: scoreOf(s.id, run.baselineDetectorPackageId).outcome as StoredOutcome } : {}),
      };
    });
  }

  /** The run with its suite version and detectors, as the outputs (JUnit, Markdown, JSON) need it. */
  async summary(runId: string): Promise<SuiteRunSummary> {
    const run = await this.db.prisma.suiteRun.findUnique({ where: { id: runId }, include: { suiteVersion: { include: { suite: true } } } });
    if (!run) throw new NotFoundError("suite run", runId);
    const detector = (id: string) => this.db.prisma.detectorPackage.findUniqueOrThrow({ where: { id }, select: { name: true, version: true } });
    return {
      runId: run.id,
      suite: { name: run.suiteVersion.suite.name, version: run.suiteVersion.version },
      detector: await detector(run.detectorPackageId),
      baseline: run.baselineDetectorPackageId ? await detector(run.baselineDetectorPackageId) : null,
      status: run.status,
      generated: run.generatedCount,
      reused: run.reusedCount,
      error: run.error,
      report: run.report as unknown as SuiteReport | null,
    };
  }

  /** Snapshots of the run whenever its counts or state change, until it ends. */
  progress(runId: string, signal?: AbortSignal): AsyncGenerator<SuiteRun> {
    return changeSnapshots(this.events, runId, {
      load: () => this.db.prisma.suiteRun.findUnique({ where: { id: runId } }),
      key: (run) => `${run.status}|${run.generatedCount}|${run.reusedCount}`,
      running: (run) => run.status === "RUNNING",
      signal,
    });
  }

  /** Stops the runs in flight (service shutdown): each ends as ERROR, its generated samples kept for the next run. */
  async close(): Promise<void> {
    for (const { controller } of this.running.values()) controller.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }
}

/** Sorted indices as runs of consecutive ones, each at most `maxCount` long. */
export function consecutiveRanges(indices: readonly number[], maxCount: number): Array<{ first: number; count: number }> {
  const ranges: Array<{ first: number; count: number }> = [];
  for (const index of indices) {
    const last = ranges.at(-1);
    if (last && last.first + last.count === index && last.count < maxCount) last.count++;
    else ranges.push({ first: index, count: 1 });
  }
  return ranges;
}
