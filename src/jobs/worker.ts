// The generation worker: takes batch tasks from the queue and runs them. A task reads as
// pending indices -> run the batch (generate, then score from the pixels in memory) -> commit the batch:
// the files go to the content-addressed store, then every Sample, Artifact, Score and Detection of the
// batch in one transaction guarded by the job's state (a cancelled job accepts nothing more).
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { JobWithMetadata, PgBoss } from "pg-boss";
import type { Config } from "../config.ts";
import { Prisma, type Database } from "../db/index.ts";
import { changedRegionsOf, detectorFilesOf, scoreUntouchedFrames, scoreWithDetector, ScoringSessions, writeScores, type RealismGate, type SampleVerdict } from "../detection/index.ts";
import { openModelRuntime, parseSampler, type ModelRuntime, type SamplingQuality } from "../diffusion/index.ts";
import type { GenerationJob } from "../generated/prisma/client.ts";
import { generateBatch, type BatchOutcome, type GeneratedArtifact } from "../generation/index.ts";
import { decodeImage, imageFromPixels } from "../imaging/index.ts";
import type { Logger } from "../logger.ts";
import { loadModelPackageAsync, resolveModelDir, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import { storedProvenance } from "../provenance/index.ts";
import { offeredProviders, type ExecutionProviderName } from "../runtime/index.ts";
import { BACKGROUND_FRAME_PARAMETER, type ScenarioSpec } from "../scenarios/index.ts";
import type { ArtifactStore } from "../storage/index.ts";
import { generateFrameBatch, type ResolvedBackground } from "../uploads/index.ts";
import { RAREFORGE_VERSION } from "../version.ts";
import type { JobEvents } from "./events.ts";
import { finalizeIfDone, isTerminal, markRunning } from "./lifecycle.ts";
import { BATCH_QUEUE, type BatchTask } from "./queue.ts";

export { offeredProviders };

export const WORKER_HEARTBEAT_MS = 10_000;
/** A worker not seen for this long is taken as gone. */
export const WORKER_LIVENESS_MS = 35_000;
/** Attempts at a batch's commit when another worker committed some of its indices meanwhile. */
const COMMIT_ATTEMPTS = 3;

export interface WorkerDependencies {
  config: Config;
  db: Database;
  boss: PgBoss;
  store: ArtifactStore;
  logger: Logger;
  events?: JobEvents;
}

export interface RunningWorker {
  readonly id: string;
  /** Tasks this worker has finished (committed, skipped or recorded as failed). */
  readonly tasksDone: number;
  stop(): Promise<void>;
}

/** What every step of a task needs: the dependencies, this worker's identity and its open sessions. */
interface WorkerContext extends WorkerDependencies {
  workerId: string;
  log: Logger;
  runtimes: RuntimeCache;
  scoring: ScoringSessions;
}

type JobRow = GenerationJob & { scenarioVersion: { scenarioId: string; version: number; specHash: string; spec: unknown; scenario: { name: string } } };
type CommitTarget = Pick<GenerationJob, "id" | "scenarioVersionId" | "modelPackageId" | "detectorPackageId" | "sampler" | "steps" | "guidance" | "seed" | "executionProvider">;

/** GenerationJob.options as the worker reads it. */
interface JobOptions {
  /** Per-index parameters (a failure search's proposals) instead of drawing from (seed, index). */
  parameters?: ScenarioParameters[];
  /** The realism gate the job was requested with (thresholds from the service's config at that time). */
  realism?: RealismGate;
  /** A background scenario's frames, frozen when the job was requested: samples are hazards inserted into them. */
  background?: ResolvedBackground;
  /** The quality the request named (FAST: the settings came from the manifest's `fast`); recorded with each sample. */
  quality?: SamplingQuality;
}

class JobCancelled extends Error {}

/** Model sessions kept per (model, provider) for the life of the worker. */
class RuntimeCache {
  private readonly runtimes = new Map<string, Promise<{ model: ModelPackage; runtime: ModelRuntime }>>();
  constructor(
    private readonly modelsDir: string,
    private readonly intraOpThreads: number,
  ) {}

  get(modelName: string, ep: ExecutionProviderName) {
    const key = `${modelName}|${ep}`;
    let entry = this.runtimes.get(key);
    if (!entry) {
      entry = (async () => {
        const model = await loadModelPackageAsync(resolveModelDir(modelName, this.modelsDir));
        const runtime = await openModelRuntime(model, { ep, ...(this.intraOpThreads > 0 ? { intraOpThreads: this.intraOpThreads } : {}) });
        return { model, runtime };
      })();
      entry.catch(() => this.runtimes.delete(key));
      this.runtimes.set(key, entry);
    }
    return entry;
  }

  async dispose() {
    for (const entry of this.runtimes.values()) await entry.then((e) => e.runtime.dispose()).catch(() => {});
    this.runtimes.clear();
  }
}

export async function startWorker(deps: WorkerDependencies): Promise<RunningWorker> {
  const { config, db, boss } = deps;
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const threads = config.onnxThreads > 0 ? { intraOpThreads: config.onnxThreads } : {};
  const ctx: WorkerContext = {
    ...deps,
    workerId,
    log: deps.logger.child({ component: "worker", workerId }),
    runtimes: new RuntimeCache(config.modelsDir, config.onnxThreads),
    scoring: new ScoringSessions(detectorFilesOf(config), threads),
  };
  let tasksDone = 0;
  await db.prisma.workerInstance.create({
    data: { id: workerId, hostname: os.hostname(), pid: process.pid, executionProviders: offeredProviders(config.executionProvider), concurrency: config.workerConcurrency },
  });
  const heartbeat = startHeartbeat(ctx);
  await sweepStore(ctx);
  if (db.kind === "pglite") await reclaimTasksOfDeadProcess(ctx);
  const workIds = await subscribe(ctx, () => tasksDone++);
  ctx.log.info({ concurrency: config.workerConcurrency, providers: offeredProviders(config.executionProvider), subscriptions: workIds.length }, "generation worker started");
  return {
    id: workerId,
    get tasksDone() {
      return tasksDone;
    },
    async stop() {
      clearInterval(heartbeat);
      await boss.offWork(BATCH_QUEUE, { wait: true }).catch(() => {});
      await db.prisma.workerInstance.delete({ where: { id: workerId } }).catch(() => {});
      await ctx.runtimes.dispose();
      await ctx.scoring.dispose();
    },
  };
}

function startHeartbeat(ctx: WorkerContext): NodeJS.Timeout {
  const timer = setInterval(() => {
    void ctx.db.prisma.workerInstance
      .update({ where: { id: ctx.workerId }, data: { heartbeatAt: new Date() } })
      .catch((error: unknown) => ctx.log.warn({ err: error }, "worker heartbeat failed"));
  }, WORKER_HEARTBEAT_MS);
  timer.unref();
  return timer;
}

/** Files a killed writer left behind: temporary files, and files no record points at (old enough that no live worker can still be about to commit them). */
async function sweepStore(ctx: WorkerContext): Promise<void> {
  const swept = await ctx.store
    .sweep(async (sha256) => (await ctx.db.prisma.artifact.count({ where: { sha256 } })) > 0, Math.max(60_000, ctx.config.taskExpireSeconds * 2000))
    .catch((error: unknown) => {
      ctx.log.warn({ err: error }, "artifact store sweep failed");
      return null;
    });
  if (swept && swept.temporary + swept.unreferenced > 0) ctx.log.info(swept, "removed orphan files from the artifact store");
}

/**
 * Only one process can open an embedded database, so a task still active in its queue at start belonged
 * to a process that is gone (killed mid-batch): hand it back now instead of after the task expiry.
 * Failing it spends one attempt, as a crash does; the committed indices are skipped when it is redone.
 */
async function reclaimTasksOfDeadProcess(ctx: WorkerContext): Promise<void> {
  const active = (await ctx.boss.findJobs(BATCH_QUEUE, { limit: 100_000 })).filter((task) => task.state === "active");
  if (active.length === 0) return;
  await ctx.boss.fail(BATCH_QUEUE, active.map((task) => task.id), { reason: "the process running this batch ended before it finished" });
  ctx.log.info({ event: "tasks-reclaimed", tasks: active.length }, "batch tasks of the previous process handed back to the queue");
}

/** One queue subscription per unit of concurrency; each runs a task and fetches the next at once. */
async function subscribe(ctx: WorkerContext, onTaskDone: () => void): Promise<string[]> {
  const workOptions = {
    batchSize: 1,
    includeMetadata: true,
    pollingIntervalSeconds: ctx.config.queuePollSeconds,
    notifyPollingIntervalSeconds: ctx.config.queuePollSeconds,
  } as const;
  const ids: string[] = [];
  for (let i = 0; i < ctx.config.workerConcurrency; i++) {
    const self: { id?: string } = {};
    self.id = await ctx.boss.work<BatchTask, void, typeof workOptions>(BATCH_QUEUE, workOptions, async ([task]: JobWithMetadata<BatchTask>[]) => {
      if (!task) return;
      try {
        await runTaskOrRecordFailure(ctx, task);
      } finally {
        onTaskDone();
        if (self.id) ctx.boss.notifyWorker(self.id);
      }
    });
    ids.push(self.id);
  }
  return ids;
}

/** Runs a task; an error is retried by the queue, and on the last attempt the batch's missing samples are recorded as failed. */
async function runTaskOrRecordFailure(ctx: WorkerContext, task: JobWithMetadata<BatchTask>): Promise<void> {
  try {
    await runTask(ctx, task);
  } catch (error) {
    if (task.retryCount < task.retryLimit) {
      ctx.log.warn({ err: error, task: task.data, attempt: task.retryCount }, "batch task failed; it will be retried");
      throw error;
    }
    ctx.log.error({ err: error, task: task.data }, "batch task failed for the last time; recording its samples as failed");
    await failRemaining(ctx, task, error);
  }
}

async function runTask(ctx: WorkerContext, task: JobWithMetadata<BatchTask>): Promise<void> {
  const { jobId, start, end } = task.data;
  const job = await ctx.db.prisma.generationJob.findUnique({ where: { id: jobId }, include: { scenarioVersion: { include: { scenario: true } } } });
  if (!job || isTerminal(job.status) || job.cancelRequestedAt) return;
  if (job.status === "QUEUED") {
    await markRunning(ctx.db, jobId);
    ctx.events?.changed(jobId);
  }
  const indices = await pendingIndices(ctx.db, jobId, start, end);
  if (indices.length === 0) {
    await finalizeIfDone(ctx.db, jobId);
    return;
  }
  const log = ctx.log.child({ jobId, start, end, attempt: task.retryCount });
  log.info({ event: "batch-started", pid: process.pid, indices: indices.length }, "batch started");
  const outcomes = await runBatch(ctx, job, indices);
  // Detector in the loop: scored before the commit, so samples and scores land together.
  const verdicts = job.detectorPackageId ? await scoreBatch(ctx, job, outcomes) : new Map<number, SampleVerdict>();
  await commitBatch(ctx, job, outcomes, log, verdicts);
}

/** The indices of [start, end) not committed yet: a retried task redoes only what is missing. */
export async function pendingIndices(db: Database, jobId: string, start: number, end: number): Promise<number[]> {
  const committed = new Set((await db.prisma.sample.findMany({ where: { jobId, index: { gte: start, lt: end } }, select: { index: true } })).map((s) => s.index));
  const pending: number[] = [];
  for (let i = start; i < end; i++) if (!committed.has(i)) pending.push(i);
  return pending;
}

/** Generates the batch; a model that cannot be opened at all fails every sample with that reason. */
async function runBatch(ctx: WorkerContext, job: JobRow, indices: number[]): Promise<BatchOutcome[]> {
  const spec = job.scenarioVersion.spec as ScenarioSpec;
  const options = job.options as JobOptions;
  try {
    const { model, runtime } = await ctx.runtimes.get(spec.model, job.executionProvider as ExecutionProviderName);
    const { scenarioVersion } = job;
    const scenario = { id: scenarioVersion.scenarioId, name: scenarioVersion.scenario.name, version: scenarioVersion.version, specHash: scenarioVersion.specHash };
    if (options.background) {
      return await generateFrameBatch({
        model,
        runtime,
        scenario,
        spec,
        background: options.background,
        readFrame: (sha256) => ctx.store.readBytes(sha256),
        maxImagePixels: ctx.config.maxImagePixels,
        jobId: job.id,
        jobCreatedAt: job.createdAt,
        sampler: parseSampler(job.sampler),
        steps: job.steps,
        guidance: job.guidance,
        seed: Number(job.seed),
        executionProvider: job.executionProvider as ExecutionProviderName,
        indices,
        ...(options.parameters ? { parametersFor: (index: number) => options.parameters?.[index] } : {}),
        ...(options.quality ? { quality: options.quality } : {}),
      });
    }
    return await generateBatch({
      model,
      runtime,
      scenario,
      spec,
      jobId: job.id,
      sampler: parseSampler(job.sampler),
      steps: job.steps,
      guidance: job.guidance,
      seed: Number(job.seed),
      indices,
      jobCreatedAt: job.createdAt,
      ...(options.parameters ? { parametersFor: (index: number) => options.parameters?.[index] } : {}),
      ...(options.quality ? { quality: options.quality } : {}),
    });
  } catch (error) {
    return indices.map((index) => ({ status: "FAILED", index, parameters: null, error: `${(error as Error).name}: ${(error as Error).message}` }));
  }
}

/** Scores the generated samples of a batch from the pixels they were encoded from (no PNG decode). */
async function scoreBatch(ctx: WorkerContext, job: JobRow, outcomes: BatchOutcome[]): Promise<Map<number, SampleVerdict>> {
  const detector = await ctx.db.prisma.detectorPackage.findUniqueOrThrow({ where: { id: job.detectorPackageId! } });
  const gate: RealismGate = (job.options as JobOptions).realism ?? { enabled: true, thresholds: {} };
  const generated = outcomes.filter((o): o is GeneratedArtifact => o.status === "OK");
  const verdicts = await scoreWithDetector(
    ctx.scoring,
    detector,
    (job.scenarioVersion.spec as ScenarioSpec).model,
    gate,
    generated.map((o) => ({ image: imageFromPixels(o.pixels), intended: o.labels.boxes, parameters: o.parameters, ...changedRegionsOf(o.labels) })),
  );
  const background = (job.options as JobOptions).background;
  if (background) {
    // the "before": what the detector sees in each untouched frame of this batch, once per frame and detector
    const used = new Set(generated.map((o) => String(o.parameters[BACKGROUND_FRAME_PARAMETER])));
    const frames = background.frames.filter((f) => used.has(f.referenceScanId));
    await scoreUntouchedFrames(ctx.scoring, detector, (job.scenarioVersion.spec as ScenarioSpec).model, ctx.db.prisma, frames.map((f) => ({ referenceScanId: f.referenceScanId, image: async () => decodeImage(await ctx.store.readBytes(f.sha256), `frame ${f.referenceScanId}`, ctx.config.maxImagePixels) })));
  }
  return new Map(generated.map((o, k) => [o.index, verdicts[k]!]));
}

/**
 * Stores the batch's files, then commits its rows in one transaction guarded by the job's state. A
 * cancellation during sampling writes nothing and removes the files; indices another worker committed
 * meanwhile (a task that expired while still running) are dropped and the rest committed.
 */
async function commitBatch(ctx: WorkerContext, job: CommitTarget, outcomes: BatchOutcome[], log: Logger, verdicts = new Map<number, SampleVerdict>()): Promise<void> {
  const current = await ctx.db.prisma.generationJob.findUnique({ where: { id: job.id }, select: { status: true } });
  if (!current || current.status !== "RUNNING") {
    log.info({ event: "batch-discarded" }, "job no longer running; batch discarded");
    return;
  }
  const files = outcomes.filter((o): o is GeneratedArtifact => o.status === "OK").flatMap((a) => [a, ...a.files]);
  for (const file of files) await ctx.store.put(file.bytes);
  let pending = outcomes;
  for (let attempt = 0; attempt < COMMIT_ATTEMPTS && pending.length > 0; attempt++) {
    try {
      const batch = pending;
      await ctx.db.prisma.$transaction((tx) => writeBatch(tx, ctx.workerId, job, batch, verdicts));
      pending = [];
    } catch (error) {
      if (error instanceof JobCancelled) {
        log.info({ event: "batch-discarded" }, "job cancelled during the batch; nothing committed");
        await removeUnreferenced(ctx, files.map((f) => f.sha256));
        return;
      }
      if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002")) throw error;
      const stillPending = new Set(await pendingIndices(ctx.db, job.id, Math.min(...pending.map((o) => o.index)), Math.max(...pending.map((o) => o.index)) + 1));
      pending = pending.filter((o) => stillPending.has(o.index));
    }
  }
  log.info({ event: "batch-committed", samples: outcomes.length, pid: process.pid }, "batch committed");
  await finalizeIfDone(ctx.db, job.id);
  ctx.events?.changed(job.id);
}

/** The batch's rows inside one transaction; throws JobCancelled when the job no longer accepts samples. */
async function writeBatch(tx: Prisma.TransactionClient, workerId: string, job: CommitTarget, outcomes: BatchOutcome[], verdicts: Map<number, SampleVerdict>): Promise<void> {
  const generated = outcomes.filter((o): o is GeneratedArtifact => o.status === "OK");
  const guarded = await tx.generationJob.updateMany({
    where: { id: job.id, status: "RUNNING", cancelRequestedAt: null },
    data: { completedCount: { increment: generated.length }, failedCount: { increment: outcomes.length - generated.length } },
  });
  if (guarded.count === 0) throw new JobCancelled();
  const artifactIds = new Map<string, string>();
  if (generated.length > 0) {
    const files = generated.flatMap((a) => [a, ...a.files]);
    await tx.artifact.createMany({ data: files.map((a) => ({ sha256: a.sha256, mediaType: a.mediaType, byteSize: a.bytes.byteLength })), skipDuplicates: true });
    for (const row of await tx.artifact.findMany({ where: { sha256: { in: files.map((a) => a.sha256) } }, select: { id: true, sha256: true } })) artifactIds.set(row.sha256, row.id);
  }
  const rows = outcomes.map((o) => ({ ...sampleRow(o, job, workerId, artifactIds), id: randomUUID() }));
  await tx.sample.createMany({ data: rows });
  if (job.detectorPackageId) {
    await writeScores(tx, job.detectorPackageId, rows.flatMap((row) => (verdicts.has(row.index) ? [{ sampleId: row.id, verdict: verdicts.get(row.index)! }] : [])));
  }
}

async function removeUnreferenced(ctx: WorkerContext, hashes: string[]): Promise<void> {
  for (const sha256 of hashes) if ((await ctx.db.prisma.artifact.count({ where: { sha256 } })) === 0) await ctx.store.remove(sha256);
}

/** Last attempt failed: the batch's missing indices are recorded as failed, so the job still ends. */
async function failRemaining(ctx: WorkerContext, task: JobWithMetadata<BatchTask>, error: unknown): Promise<void> {
  const { jobId, start, end } = task.data;
  const job = await ctx.db.prisma.generationJob.findUnique({ where: { id: jobId } });
  if (!job) return;
  const reason = `batch task failed after ${task.retryCount + 1} attempts: ${(error as Error).message}`;
  const outcomes: BatchOutcome[] = (await pendingIndices(ctx.db, jobId, start, end)).map((index) => ({ status: "FAILED", index, parameters: null, error: reason }));
  if (outcomes.length > 0) await commitBatch(ctx, job, outcomes, ctx.log);
}

function sampleRow(outcome: BatchOutcome, job: CommitTarget, workerId: string, artifactIds: Map<string, string>): Prisma.SampleCreateManyInput {
  const common = { jobId: job.id, index: outcome.index, scenarioVersionId: job.scenarioVersionId, modelPackageId: job.modelPackageId, workerId };
  if (outcome.status === "FAILED") {
    return {
      ...common,
      status: "FAILED",
      error: outcome.error,
      parameters: (outcome.parameters ?? {}) as Prisma.InputJsonValue,
      condition: [],
      sampler: job.sampler,
      steps: job.steps,
      guidance: job.guidance,
      seed: job.seed,
      executionProvider: job.executionProvider,
      onnxruntimeVersion: "",
      rareforgeVersion: RAREFORGE_VERSION,
      provenance: { error: outcome.error } as Prisma.InputJsonValue,
    };
  }
  const record = outcome.record;
  return {
    ...common,
    status: "OK",
    parameters: outcome.parameters as Prisma.InputJsonValue,
    condition: outcome.condition,
    labels: outcome.labels as unknown as Prisma.InputJsonValue,
    sampler: record.sampler,
    steps: record.steps,
    guidance: record.guidance,
    seed: BigInt(record.seed),
    executionProvider: record.executionProvider,
    onnxruntimeVersion: record.versions.onnxruntime ?? "",
    rareforgeVersion: record.versions.rareforge ?? "",
    // the record embedded in the file, plus what cannot be inside it: the file's own hash and timings
    provenance: storedProvenance(record, { sha256: outcome.sha256, mediaType: outcome.mediaType, byteSize: outcome.bytes.byteLength }, { ...outcome.timings }) as unknown as Prisma.InputJsonValue,
    timings: outcome.timings as unknown as Prisma.InputJsonValue,
    artifactId: artifactIds.get(outcome.sha256) ?? null,
    files: outcome.files.map((f) => ({ role: f.role, sha256: f.sha256, mediaType: f.mediaType, byteSize: f.bytes.byteLength })),
  };
}
