// The generation worker: takes batch tasks from the queue and runs them. For each task it skips the
// indices already committed (a retried task redoes only what is missing), generates the rest, writes
// the files to the content-addressed store, and commits every Sample, Artifact and provenance record of
// the batch in one transaction guarded by the job's state (a cancelled job accepts nothing more).
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { PgBoss, JobWithMetadata } from "pg-boss";
import type { Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import { Prisma } from "../db/index.ts";
import { openModelRuntime, parseSampler, type ModelRuntime } from "../diffusion/index.ts";
import { type ExecutionProviderName } from "../runtime/index.ts";
import { scoreImages, ScoringSessions, type DetectorRecord, type DetectorSource, type RealismGate, type SampleVerdict } from "../detection/index.ts";
import { decodeImage } from "../imaging/index.ts";
import { generateBatch, type BatchOutcome, type GeneratedArtifact } from "../generation/index.ts";
import type { Logger } from "../logger.ts";
import { storedProvenance } from "../provenance/index.ts";
import { loadModelPackage, resolveModelDir, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import type { ScenarioSpec } from "../scenarios/index.ts";
import type { ArtifactStore } from "../storage/index.ts";
import type { GenerationJob } from "../generated/prisma/client.ts";
import { RAREFORGE_VERSION } from "../version.ts";
import type { JobEvents } from "./events.ts";
import { finalizeIfDone, isTerminal, markRunning } from "./lifecycle.ts";
import { BATCH_QUEUE, type BatchTask } from "./queue.ts";

/** The execution providers a worker offers: cpu always, and the GPU provider it was configured with. */
export function offeredProviders(configured: Config["executionProvider"]): string[] {
  return [...new Set(["cpu", "auto", configured])];
}

export const WORKER_HEARTBEAT_MS = 10_000;
/** A worker not seen for this long is taken as gone. */
export const WORKER_LIVENESS_MS = 35_000;

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
        const model = loadModelPackage(resolveModelDir(modelName, this.modelsDir));
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
  const { config, db, boss, store, logger } = deps;
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const log = logger.child({ component: "worker", workerId });
  const runtimes = new RuntimeCache(config.modelsDir, config.onnxThreads);
  const scoring = new ScoringSessions(config.modelsDir, config.onnxThreads > 0 ? { intraOpThreads: config.onnxThreads } : {});
  let tasksDone = 0;

  await db.prisma.workerInstance.create({
    data: { id: workerId, hostname: os.hostname(), pid: process.pid, executionProviders: offeredProviders(config.executionProvider), concurrency: config.workerConcurrency },
  });
  const heartbeat = setInterval(() => {
    void db.prisma.workerInstance.update({ where: { id: workerId }, data: { heartbeatAt: new Date() } }).catch((error: unknown) => log.warn({ err: error }, "worker heartbeat failed"));
  }, WORKER_HEARTBEAT_MS);
  heartbeat.unref();

  // Files a killed writer left behind: temporary files, and files no record points at (old enough that
  // no live worker can still be about to commit them).
  const swept = await store
    .sweep(async (sha256) => (await db.prisma.artifact.count({ where: { sha256 } })) > 0, Math.max(60_000, config.taskExpireSeconds * 2000))
    .catch((error: unknown) => {
      log.warn({ err: error }, "artifact store sweep failed");
      return null;
    });
  if (swept && swept.temporary + swept.unreferenced > 0) log.info(swept, "removed orphan files from the artifact store");

  const runTask = async (task: JobWithMetadata<BatchTask>) => {
    const { jobId, start, end } = task.data;
    const taskLog = log.child({ jobId, start, end, attempt: task.retryCount });
    const job = await db.prisma.generationJob.findUnique({ where: { id: jobId }, include: { scenarioVersion: { include: { scenario: true } } } });
    if (!job || isTerminal(job.status) || job.cancelRequestedAt) return;
    if (job.status === "QUEUED") {
      await markRunning(db, jobId);
      deps.events?.changed(jobId);
    }
    const committed = new Set(
      (await db.prisma.sample.findMany({ where: { jobId, index: { gte: start, lt: end } }, select: { index: true } })).map((s) => s.index),
    );
    const indices = [];
    for (let i = start; i < end; i++) if (!committed.has(i)) indices.push(i);
    if (indices.length === 0) {
      await finalizeIfDone(db, jobId);
      return;
    }
    const spec = job.scenarioVersion.spec as unknown as ScenarioSpec;
    const options = job.options as JobOptions;
    taskLog.info({ event: "batch-started", pid: process.pid, indices: indices.length }, "batch started");
    let outcomes: BatchOutcome[];
    try {
      const { model, runtime } = await runtimes.get(spec.model, job.executionProvider as ExecutionProviderName);
      outcomes = await generateBatch({
        model,
        runtime,
        scenario: { id: job.scenarioVersion.scenarioId, name: job.scenarioVersion.scenario.name, version: job.scenarioVersion.version, specHash: job.scenarioVersion.specHash },
        spec,
        jobId,
        sampler: parseSampler(job.sampler),
        steps: job.steps,
        guidance: job.guidance,
        seed: Number(job.seed),
        indices,
        jobCreatedAt: job.createdAt,
        ...(options.parameters ? { parametersFor: (index: number) => options.parameters?.[index] } : {}),
      });
    } catch (error) {
      // The model could not be opened at all: every sample of the batch fails with that reason.
      outcomes = indices.map((index) => ({ status: "FAILED", index, parameters: null, error: `${(error as Error).name}: ${(error as Error).message}` }));
    }
    // Detector in the loop: score the batch before its commit, so samples and scores land together.
    const verdicts = job.detectorPackageId ? await scoreBatch(job.detectorPackageId, spec.model, options, outcomes) : new Map<number, SampleVerdict>();
    await commitBatch(job, outcomes, taskLog, verdicts);
  };

  const scoreBatch = async (detectorPackageId: string, modelName: string, options: JobOptions, outcomes: BatchOutcome[]) => {
    const row = await db.prisma.detectorPackage.findUniqueOrThrow({ where: { id: detectorPackageId } });
    const record: DetectorRecord = {
      name: row.name,
      version: row.version,
      source: (row.manifest as { source: DetectorSource }).source,
      fileHashes: row.fileHashes as Record<string, string>,
      classMap: row.classMap as Record<string, string[]>,
    };
    const { detector, critic } = await scoring.get(row.id, record, modelName);
    const generated = outcomes.filter((o): o is GeneratedArtifact => o.status === "OK");
    const gate: RealismGate = options.realism ?? { enabled: true, thresholds: {} };
    const verdicts = await scoreImages(
      detector,
      critic,
      gate,
      generated.map((o) => ({ image: decodeImage(o.bytes, `sample ${o.index}`), intended: o.labels.boxes, parameters: o.parameters })),
    );
    return new Map(generated.map((o, k) => [o.index, verdicts[k] as SampleVerdict]));
  };

  const commitBatch = async (job: JobRow, outcomes: BatchOutcome[], taskLog: Logger, verdicts = new Map<number, SampleVerdict>()) => {
    const jobId = job.id;
    // A cancellation that arrived during sampling: write nothing.
    const current = await db.prisma.generationJob.findUnique({ where: { id: jobId }, select: { status: true } });
    if (!current || current.status !== "RUNNING") {
      taskLog.info({ event: "batch-discarded" }, "job no longer running; batch discarded");
      return;
    }
    const written: GeneratedArtifact[] = outcomes.filter((o): o is GeneratedArtifact => o.status === "OK");
    // Each sample's main file and the files beside it (medical: DICOM, ground truth, SEG).
    const writtenFiles = written.flatMap((a) => [a, ...a.files]);
    for (const file of writtenFiles) await store.put(file.bytes);
    let pending = outcomes;
    for (let attempt = 0; attempt < 3 && pending.length > 0; attempt++) {
      try {
        await db.prisma.$transaction(async (tx) => {
          const ok = pending.filter((o) => o.status === "OK").length;
          const guarded = await tx.generationJob.updateMany({
            where: { id: jobId, status: "RUNNING", cancelRequestedAt: null },
            data: { completedCount: { increment: ok }, failedCount: { increment: pending.length - ok } },
          });
          if (guarded.count === 0) throw new JobCancelled();
          const artifacts = pending.filter((o): o is GeneratedArtifact => o.status === "OK");
          const artifactIds = new Map<string, string>();
          if (artifacts.length > 0) {
            const files = artifacts.flatMap((a) => [a, ...a.files]);
            await tx.artifact.createMany({
              data: files.map((a) => ({ sha256: a.sha256, mediaType: a.mediaType, byteSize: a.bytes.byteLength })),
              skipDuplicates: true,
            });
            for (const row of await tx.artifact.findMany({ where: { sha256: { in: files.map((a) => a.sha256) } }, select: { id: true, sha256: true } })) {
              artifactIds.set(row.sha256, row.id);
            }
          }
          const rows = pending.map((o) => ({ ...sampleRow(o, job, workerId, artifactIds), id: randomUUID() }));
          await tx.sample.createMany({ data: rows });
          if (job.detectorPackageId && verdicts.size > 0) {
            const detectorPackageId = job.detectorPackageId;
            const scored = rows.flatMap((row) => (verdicts.has(row.index) ? [{ sampleId: row.id, verdict: verdicts.get(row.index) as SampleVerdict }] : []));
            await tx.detection.createMany({ data: scored.flatMap(({ sampleId, verdict }) => verdict.detections.map((d) => ({ ...d, sampleId, detectorPackageId }))) });
            await tx.score.createMany({ data: scored.map(({ sampleId, verdict }) => scoreRow(sampleId, detectorPackageId, verdict)) });
          }
        });
        pending = [];
      } catch (error) {
        if (error instanceof JobCancelled) {
          taskLog.info({ event: "batch-discarded" }, "job cancelled during the batch; nothing committed");
          await removeUnreferenced(writtenFiles.map((a) => a.sha256));
          return;
        }
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
          // Another worker committed some of these indices (a task that expired while still running):
          // keep only what is still missing.
          const done = new Set(
            (await db.prisma.sample.findMany({ where: { jobId, index: { in: pending.map((o) => o.index) } }, select: { index: true } })).map((s) => s.index),
          );
          pending = pending.filter((o) => !done.has(o.index));
          continue;
        }
        throw error;
      }
    }
    taskLog.info({ event: "batch-committed", samples: outcomes.length, pid: process.pid }, "batch committed");
    await finalizeIfDone(db, jobId);
    deps.events?.changed(jobId);
  };

  const removeUnreferenced = async (hashes: string[]) => {
    for (const sha256 of hashes) {
      if ((await db.prisma.artifact.count({ where: { sha256 } })) === 0) await store.remove(sha256);
    }
  };

  /** Last attempt failed: the batch's missing indices are recorded as failed, so the job still ends. */
  const failRemaining = async (task: JobWithMetadata<BatchTask>, error: unknown) => {
    const { jobId, start, end } = task.data;
    const job = await db.prisma.generationJob.findUnique({ where: { id: jobId } });
    if (!job) return;
    const committed = new Set(
      (await db.prisma.sample.findMany({ where: { jobId, index: { gte: start, lt: end } }, select: { index: true } })).map((s) => s.index),
    );
    const outcomes: BatchOutcome[] = [];
    for (let i = start; i < end; i++) {
      if (!committed.has(i)) outcomes.push({ status: "FAILED", index: i, parameters: null, error: `batch task failed after ${task.retryCount + 1} attempts: ${(error as Error).message}` });
    }
    if (outcomes.length > 0) await commitBatch(job, outcomes, log);
  };

  const workOptions = {
    batchSize: 1,
    includeMetadata: true,
    pollingIntervalSeconds: config.queuePollSeconds,
    notifyPollingIntervalSeconds: config.queuePollSeconds,
  } as const;
  const workIds: string[] = [];
  for (let i = 0; i < config.workerConcurrency; i++) {
    const self: { id?: string } = {};
    self.id = await boss.work<BatchTask, void, typeof workOptions>(
      BATCH_QUEUE,
      workOptions,
      async ([task]: JobWithMetadata<BatchTask>[]) => {
        if (!task) return;
        try {
          await runTask(task);
        } catch (error) {
          if (task.retryCount >= task.retryLimit) {
            log.error({ err: error, task: task.data }, "batch task failed for the last time; recording its samples as failed");
            await failRemaining(task, error);
          } else {
            log.warn({ err: error, task: task.data, attempt: task.retryCount }, "batch task failed; it will be retried");
            throw error;
          }
        } finally {
          tasksDone++;
          // Fetch the next task at once instead of waiting out the polling interval.
          if (self.id) boss.notifyWorker(self.id);
        }
      },
    );
    workIds.push(self.id);
  }
  log.info({ concurrency: config.workerConcurrency, providers: offeredProviders(config.executionProvider) }, "generation worker started");

  return {
    id: workerId,
    get tasksDone() {
      return tasksDone;
    },
    async stop() {
      clearInterval(heartbeat);
      await boss.offWork(BATCH_QUEUE, { wait: true }).catch(() => {});
      await db.prisma.workerInstance.delete({ where: { id: workerId } }).catch(() => {});
      await runtimes.dispose();
      await scoring.dispose();
    },
  };
}

type JobRow = Pick<GenerationJob, "id" | "scenarioVersionId" | "modelPackageId" | "detectorPackageId" | "sampler" | "steps" | "guidance" | "seed" | "executionProvider">;

/** GenerationJob.options as the worker reads it. */
interface JobOptions {
  /** Per-index parameters (a failure search's proposals) instead of drawing from (seed, index). */
  parameters?: ScenarioParameters[];
  /** The realism gate the job was requested with (thresholds from the service's config at that time). */
  realism?: RealismGate;
}

/** One Score row from a verdict (INVALID keeps the detector's own outcome in realismDetails). */
export function scoreRow(sampleId: string, detectorPackageId: string, verdict: SampleVerdict): Prisma.ScoreCreateManyInput {
  return {
    sampleId,
    detectorPackageId,
    outcome: verdict.outcome,
    confidence: verdict.confidence,
    iou: verdict.iou,
    falsePositives: verdict.falsePositives,
    realismValid: verdict.realismValid,
    realismDetails: { detectorOutcome: verdict.detectorOutcome, ...(verdict.realismDetails ?? { critic: null }) } as Prisma.InputJsonValue,
  };
}

function sampleRow(outcome: BatchOutcome, job: JobRow, workerId: string, artifactIds: Map<string, string>): Prisma.SampleCreateManyInput {
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
    // The record embedded in the file, plus what cannot be inside it: the file's own hash and timings.
    provenance: storedProvenance(record, { sha256: outcome.sha256, mediaType: outcome.mediaType, byteSize: outcome.bytes.byteLength }, { ...outcome.timings }) as unknown as Prisma.InputJsonValue,
    timings: outcome.timings as unknown as Prisma.InputJsonValue,
    artifactId: artifactIds.get(outcome.sha256) ?? null,
    files: outcome.files.map((f) => ({ role: f.role, sha256: f.sha256, mediaType: f.mediaType, byteSize: f.bytes.byteLength })),
  };
}
