// Closed-loop failure search as a series of generation jobs: each iteration is one job whose samples are
// the current proposals (per-index parameters), scored by the detector in the worker; the outcomes feed the
// cross-entropy method (or a uniform-random / Halton baseline with the same budget). The result: the failure
// rate per iteration, the failure samples, and (CEM) the learned distribution as a derived scenario with
// provenance back to the search. The loop runs in the API process that started it; progress is the row,
// streamed over the same subscription mechanism as job progress.
import type { Config } from "../config.ts";
import { currentCaller, requireOwnerOrAdmin, runAsSystem } from "../access/index.ts";
import { Prisma, runDetached, type Database } from "../db/index.ts";
import { clopperPearson, isMiss, MISS_OUTCOMES, type DetectorService } from "../detection/index.ts";
import { resolveSamplingSettings } from "../diffusion/index.ts";
import { ArchivedError, NotFoundError, ValidationError, type FieldIssue } from "../errors.ts";
import { changeSnapshots, JobEvents, type JobService } from "../jobs/index.ts";
import type { Logger } from "../logger.ts";
import type { ScenarioParameters } from "../models/index.ts";
import { canonicalSpecHash, type DrawnParameters, type ScenarioSpec, type ScenarioService } from "../scenarios/index.ts";
import { checkSpace, searchSpaceFromScenario } from "./space.ts";
import { crossEntropySearch, haltonSearch, randomSearch, SEARCH_DEFAULTS, type EvaluateBatch, type Proposal, type SearchOutcome, type SearchResult } from "./search.ts";
import { nominalFailureRate, type IterationProposal, type NominalFailureRate } from "./nominal.ts";
import { distributionToScenarioSpec } from "./export.ts";
import { SearchInputError } from "./errors.ts";
import type { FailureSearch } from "../generated/prisma/client.ts";

export const SEARCH_METHODS = ["CEM", "RANDOM", "HALTON"] as const;
export type SearchMethod = (typeof SEARCH_METHODS)[number];
/** Largest budget one search may ask for. */
export const MAX_SEARCH_BUDGET = 100_000;
export interface FailureSearchRequest {
  scenarioId: string;
  detectorId: string;
  budget: number;
  method: string;
  /** Samples per iteration (one generation job each). Default SEARCH_DEFAULTS.batchSize. */
  batchSize?: number | null;
  seed?: number | null;
  /** sampler, steps and guidance: default the scenario model's manifest defaults. */
  sampler?: string | null;
  steps?: number | null;
  guidance?: number | null;
  executionProvider?: string | null;
  /** CEM: fraction of each iteration kept as the elite (default SEARCH_DEFAULTS.eliteFraction). */
  eliteFraction?: number | null;
  /** CEM: weight of the elite fit in each update (default SEARCH_DEFAULTS.smoothing). */
  smoothing?: number | null;
}

/** One finished iteration as stored in FailureSearch.iterations. */
export interface SearchIterationRecord {
  iteration: number;
  jobId: string;
  n: number;
  failures: number;
  /** Samples the realism gate refused (never counted as failures). */
  invalid: number;
  /** Samples with a valid score (the failure rate's denominator). */
  valid: number;
  /** failures / valid (0 when none is valid). */
  failureRate: number;
  /** What the iteration's proposals were drawn from (absent in searches recorded before it was stored). */
  proposal?: Proposal;
}

export class SearchCancelled extends Error {
  override name = "SearchCancelled";
}

export class SearchService {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** In-process notifications keyed by search id (progress subscriptions also poll the row). */
  readonly events = new JobEvents();

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly jobs: JobService,
    private readonly detectors: DetectorService,
    private readonly scenarios: ScenarioService,
    private readonly logger: Logger,
  ) {}

  /** Validates everything (typed errors, nothing written on a refusal), creates the search and starts it. */
  async start(input: FailureSearchRequest): Promise<FailureSearch> {
    const issues: FieldIssue[] = [];
    const batchSize = input.batchSize ?? SEARCH_DEFAULTS.batchSize;
    const sampling = { sampler: input.sampler, steps: input.steps, guidance: input.guidance, seed: input.seed, executionProvider: input.executionProvider };
    if (!Number.isInteger(input.budget) || input.budget <= 0 || input.budget > MAX_SEARCH_BUDGET)
      issues.push({ path: "budget", message: `budget must be a positive integer number of samples (at most ${MAX_SEARCH_BUDGET}), got ${input.budget}` });
    if (!(SEARCH_METHODS as readonly string[]).includes(input.method)) issues.push({ path: "method", message: `unknown method "${input.method}"; allowed: ${SEARCH_METHODS.join(", ")}` });
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > this.config.maxSamplesPerJob)
      issues.push({ path: "batchSize", message: `batchSize must be an integer in [1, ${this.config.maxSamplesPerJob}], got ${batchSize}` });
    try {
      // the values given, checked before anything is looked up; left-out ones take the model's defaults below
      resolveSamplingSettings(sampling);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues);
    }
    const eliteFraction = input.eliteFraction ?? SEARCH_DEFAULTS.eliteFraction;
    const smoothing = input.smoothing ?? SEARCH_DEFAULTS.smoothing;
    if (!(eliteFraction > 0 && eliteFraction <= 1)) issues.push({ path: "eliteFraction", message: `eliteFraction must be in (0, 1], got ${eliteFraction}` });
    if (!(smoothing > 0 && smoothing <= 1)) issues.push({ path: "smoothing", message: `smoothing must be in (0, 1], got ${smoothing}` });
    if (issues.length > 0) throw new ValidationError(issues, "invalid failure search");

    const scenario = await this.db.prisma.scenario.findUnique({ where: { id: input.scenarioId }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
    if (!scenario || !scenario.versions[0]) throw new NotFoundError("scenario", input.scenarioId);
    if (scenario.archivedAt) throw new ArchivedError("scenario", scenario.name);
    const version = scenario.versions[0];
    const spec = version.spec as unknown as ScenarioSpec;
    try {
      // the check the search itself starts with, so a bad space is refused before the row exists
      checkSpace(searchSpaceFromScenario(spec));
    } catch (error) {
      if (error instanceof SearchInputError) throw new ValidationError([{ path: "scenarioId", message: error.message }], "invalid failure search");
      throw error;
    }
    const detector = await this.detectors.checkForScenario(input.detectorId, spec);
    const { sampler, steps, guidance, seed, executionProvider: ep } = resolveSamplingSettings(sampling, {
      manifest: await this.jobs.modelManifest(spec.model),
      executionProvider: this.config.executionProvider,
    });

    const row = await this.db.prisma.failureSearch.create({
      data: {
        scenarioVersionId: version.id,
        detectorPackageId: detector.id,
        method: input.method as SearchMethod,
        budget: input.budget,
        batchSize,
        seed: BigInt(seed),
        sampler,
        steps,
        guidance,
        executionProvider: ep,
        settings: input.method === "CEM" ? { eliteFraction, smoothing } : {},
        ownerKeyId: currentCaller()?.keyId ?? null,
      },
    });
    const controller = new AbortController();
    // the search outlives the request that started it: its statements queue as background work
    // and as the machine: it is the owner's (its jobs carry ownerKeyId), but no longer a request of the owner's key
    const done = runDetached(() => runAsSystem(() => this.run(row.id, controller.signal))).finally(() => this.running.delete(row.id));
    this.running.set(row.id, { controller, done });
    return row;
  }

  private async run(searchId: string, signal: AbortSignal): Promise<void> {
    const search = await this.db.prisma.failureSearch.findUniqueOrThrow({ where: { id: searchId }, include: { scenarioVersion: { include: { scenario: true } }, detectorPackage: true } });
    const spec = search.scenarioVersion.spec as unknown as ScenarioSpec;
    const space = searchSpaceFromScenario(spec);
    const seed = Number(search.seed);
    const iterations: SearchIterationRecord[] = [];
    let currentJob: string | null = null;

    const evaluate: EvaluateBatch = async (batch, proposal) => {
      if (signal.aborted) throw new SearchCancelled();
      const { outcomes, record } = await this.evaluateIteration(search, batch as ScenarioParameters[], iterations.length, signal, (jobId) => (currentJob = jobId));
      iterations.push({ ...record, proposal });
      await this.db.prisma.failureSearch.update({
        where: { id: searchId },
        data: { iterations: iterations as unknown as Prisma.InputJsonValue, evaluatedCount: { increment: batch.length }, failureCount: { increment: record.failures } },
      });
      this.events.changed(searchId);
      return outcomes;
    };

    try {
      const options = { budget: search.budget, seed, batchSize: search.batchSize };
      const settings = search.settings as { eliteFraction?: number; smoothing?: number };
      let result: SearchResult;
      if (search.method === "CEM") result = await crossEntropySearch(space, evaluate, { ...options, ...settings });
      else if (search.method === "RANDOM") result = await randomSearch(space, evaluate, options);
      else result = await haltonSearch(space, evaluate, options);
      const derivedScenarioId = search.method === "CEM" ? await this.exportDistribution(search, spec, result) : null;
      await this.db.prisma.failureSearch.update({
        where: { id: searchId },
        data: { status: "SUCCEEDED", distribution: result.distribution as unknown as Prisma.InputJsonValue, derivedScenarioId, finishedAt: new Date() },
      });
    } catch (error) {
      const cancelled = error instanceof SearchCancelled || signal.aborted;
      if (cancelled && currentJob) await this.jobs.cancel(currentJob).catch(() => {});
      if (!cancelled) this.logger.error({ err: error, searchId }, "failure search failed");
      await this.db.prisma.failureSearch
        .update({
          where: { id: searchId },
          data: { status: cancelled ? "CANCELLED" : "FAILED", error: cancelled ? null : `${(error as Error).name}: ${(error as Error).message}`, finishedAt: new Date() },
        })
        .catch((e: unknown) => this.logger.error({ err: e, searchId }, "could not record the end of a failure search"));
    } finally {
      this.events.changed(searchId);
    }
  }

  /** One iteration: a generation job of the proposals, scored by the search's detector; returns each proposal's outcome. */
  private async evaluateIteration(
    search: FailureSearch & { scenarioVersion: { scenarioId: string } },
    proposals: ScenarioParameters[],
    iteration: number,
    signal: AbortSignal,
    onJob: (jobId: string | null) => void,
  ): Promise<{ outcomes: SearchOutcome[]; record: SearchIterationRecord }> {
    const job = await this.jobs.request({
      scenarioId: search.scenarioVersion.scenarioId,
      count: proposals.length,
      sampler: search.sampler,
      steps: search.steps,
      guidance: search.guidance,
      // a fresh noise stream per iteration: sample i of every iteration must not share its noise
      seed: Number(search.seed) + iteration,
      batchSize: Math.min(proposals.length, this.config.maxBatchSize, 16),
      executionProvider: search.executionProvider,
      detectorPackageId: search.detectorPackageId,
      realism: this.detectors.realismGate(),
      parameters: proposals,
      searchId: search.id,
      ownerKeyId: search.ownerKeyId,
    });
    onJob(job.id);
    await this.waitForJob(job.id, signal);
    onJob(null);
    const samples = await this.db.prisma.sample.findMany({
      where: { jobId: job.id },
      select: { index: true, scores: { where: { detectorPackageId: search.detectorPackageId }, select: { outcome: true, confidence: true } } },
    });
    const outcomes = proposalOutcomes(proposals.length, new Map(samples.map((s) => [s.index, s.scores[0]])));
    const valid = outcomes.filter((o) => o.valid).length;
    const failures = outcomes.filter((o) => o.failed).length;
    const record = { iteration, jobId: job.id, n: proposals.length, failures, invalid: outcomes.filter((o) => o.invalid).length, valid, failureRate: valid > 0 ? failures / valid : 0 };
    return { outcomes: outcomes.map(({ failed, confidence }) => ({ failed, confidence })), record };
  }

  /** The learned distribution as a new scenario (source SEARCH) whose version says which search made it. */
  private async exportDistribution(
    search: FailureSearch & { scenarioVersion: { id: string; version: number; scenario: { id: string; name: string } }; detectorPackage: { id: string; name: string; version: string } },
    base: ScenarioSpec,
    result: SearchResult,
  ): Promise<string> {
    const suffix = `-failures-${search.id.slice(0, 8)}`;
    const spec = distributionToScenarioSpec(result.distribution, base, {
      name: `${base.name.slice(0, 80 - suffix.length).replace(/-+$/, "")}${suffix}`,
      description: `Failure region of ${base.name} for detector ${search.detectorPackage.name} ${search.detectorPackage.version}, learned by the cross-entropy method (search ${search.id}, budget ${search.budget}, failure rate ${(result.failureRate * 100).toFixed(1)} %)`,
    });
    const validated = await this.scenarios.validate(spec);
    const derivedFrom = {
      failureSearchId: search.id,
      method: search.method,
      baseScenario: { id: search.scenarioVersion.scenario.id, name: search.scenarioVersion.scenario.name, version: search.scenarioVersion.version, versionId: search.scenarioVersion.id },
      detector: { id: search.detectorPackage.id, name: search.detectorPackage.name, version: search.detectorPackage.version },
      budget: search.budget,
      seed: Number(search.seed),
      failures: result.failures,
      failureRate: result.failureRate,
    };
    const created = await this.db.prisma.scenario.create({
      data: {
        name: validated.name,
        domain: validated.domain === "medical" ? "MEDICAL" : "AUTOMOTIVE",
        description: validated.description,
        tags: validated.tags,
        modelName: validated.model,
        latestVersion: 1,
        versions: {
          create: { version: 1, spec: validated as unknown as Prisma.InputJsonValue, specHash: canonicalSpecHash(validated), source: "SEARCH", derivedFrom: derivedFrom as Prisma.InputJsonValue },
        },
      },
    });
    return created.id;
  }

  private async waitForJob(jobId: string, signal: AbortSignal): Promise<void> {
    if (!(await this.jobs.untilFinished(jobId, signal))) throw new SearchCancelled();
  }

  async cancel(searchId: string): Promise<string> {
    const search = await this.db.prisma.failureSearch.findUnique({ where: { id: searchId }, select: { id: true, status: true, ownerKeyId: true } });
    if (!search) throw new NotFoundError("failure search", searchId);
    requireOwnerOrAdmin("cancelFailureSearch", search.ownerKeyId);
    const running = this.running.get(searchId);
    if (running) {
      running.controller.abort();
      await running.done;
    } else if (search.status === "RUNNING") {
      // started by a process that is gone: nothing drives it any more
      await this.db.prisma.failureSearch.updateMany({ where: { id: searchId, status: "RUNNING" }, data: { status: "CANCELLED", finishedAt: new Date() } });
    }
    return searchId;
  }

  /** Resolves when the search has ended (tests, CLI in-process use). */
  async settled(searchId: string): Promise<void> {
    await this.running.get(searchId)?.done;
  }

  /** Snapshots of the search whenever an iteration ends or its state changes, until it ends. */
  progress(searchId: string, signal?: AbortSignal): AsyncGenerator<FailureSearch> {
    return changeSnapshots(this.events, searchId, {
      load: () => this.db.prisma.failureSearch.findUnique({ where: { id: searchId } }),
      key: (search) => `${search.status}|${search.evaluatedCount}`,
      running: (search) => search.status === "RUNNING",
      signal,
    });
  }

  /** Stops every running search (service shutdown): each is recorded as CANCELLED. */
  async close(): Promise<void> {
    for (const { controller } of this.running.values()) controller.abort();
    await Promise.all([...this.running.values()].map((r) => r.done));
  }
}

/**
 * The failure rate under the scenario's own distribution, estimated from the search's samples by importance
 * sampling (nominal.ts); null before any valid sample, or when an iteration's proposal was not recorded
 * (CEM searches recorded before proposals were stored; random and Halton ones are uniform by construction).
 */
export async function searchNominalFailureRate(db: Database, search: Pick<FailureSearch, "id" | "method" | "iterations" | "detectorPackageId" | "scenarioVersionId">): Promise<NominalFailureRate | null> {
  const records = search.iterations as unknown as SearchIterationRecord[];
  const proposals: IterationProposal[] = [];
  for (const r of records) {
    const proposal = r.proposal ?? (search.method === "CEM" ? null : ({ kind: "uniform" } as const));
    if (!proposal) return null;
    proposals.push({ proposal, n: r.n });
  }
  if (!records.some((r) => r.valid > 0)) return null;
  const version = await db.prisma.scenarioVersion.findUniqueOrThrow({ where: { id: search.scenarioVersionId }, select: { spec: true } });
  const spec = version.spec as unknown as ScenarioSpec;
  const iterationOfJob = new Map(records.map((r) => [r.jobId, r.iteration]));
  const rows = await db.prisma.sample.findMany({
    where: { job: { searchId: search.id } },
    select: { jobId: true, parameters: true, scores: { where: { detectorPackageId: search.detectorPackageId }, select: { outcome: true, confidence: true } } },
  });
  const samples = rows
    .filter((row) => iterationOfJob.has(row.jobId))
    .map((row) => {
      const judged = judgedOutcome(row.scores[0]);
      return { parameters: row.parameters as DrawnParameters, iteration: iterationOfJob.get(row.jobId) as number, failed: judged.valid ? judged.failed : null };
    });
  return nominalFailureRate(spec, searchSpaceFromScenario(spec), samples, proposals);
}

/** Failure rate of a search so far over its validly scored samples, with its exact interval; null before any. */
export function searchFailureRate(search: Pick<FailureSearch, "failureCount" | "iterations">) {
  const valid = (search.iterations as unknown as SearchIterationRecord[]).reduce((n, i) => n + i.valid, 0);
  return valid > 0 ? clopperPearson(search.failureCount, valid) : null;
}

/**
 * Each proposal's outcome from its sample's score: a failed generation (no score) or a sample the realism
 * gate refused (INVALID) says nothing about the detector, so neither is a failure nor counts as valid.
 */
function proposalOutcomes(count: number, scores: Map<number, SampleScore | undefined>) {
  return Array.from({ length: count }, (_, i) => judgedOutcome(scores.get(i)));
}

type SampleScore = { outcome: string; confidence: number | null };

/** One sample's outcome for the search, from its score (the rule proposalOutcomes states). */
function judgedOutcome(score: SampleScore | undefined) {
  const judged = score !== undefined && score.outcome !== "INVALID";
  return { failed: judged && isMiss(score.outcome), confidence: judged ? score.confidence : null, valid: judged, invalid: score?.outcome === "INVALID" };
}

/** The samples of a search's iterations its detector missed (the search's failures). */
export function searchFailuresWhere(search: Pick<FailureSearch, "id" | "detectorPackageId">): Prisma.SampleWhereInput {
  return { job: { searchId: search.id }, scores: { some: { detectorPackageId: search.detectorPackageId, outcome: { in: [...MISS_OUTCOMES] } } } };
}
