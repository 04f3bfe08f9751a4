// Crash recovery with PostgreSQL and three `rareforge worker` processes: one is killed with SIGKILL in the
// middle of a batch; its task comes back after the queue's expiry and another worker redoes it. The job
// still ends with exactly `count` samples, none duplicated, none missing, and no orphan files in the store.
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { freshPostgresUrl, TEST_DATABASE_URL } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { createTinyScenario, jobTestDirs, REQUEST, spawnRareforge, until, waitForJob, type LoggedProcess } from "./helpers.ts";

const EXPIRE_SECONDS = 8;

type WorkerProcess = LoggedProcess;
/** The worker id a process logs with every line. */
const workerIdOf = (w: WorkerProcess): string | undefined => w.lines.find((l) => l.workerId)?.workerId;

if (!TEST_DATABASE_URL) console.info("TEST_DATABASE_URL is not set: the crash-recovery test needs PostgreSQL and worker processes; skipped.");

describe.skipIf(!TEST_DATABASE_URL)("crash recovery on PostgreSQL with 3 worker processes", () => {
  const workers: WorkerProcess[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("a worker killed mid-batch loses nothing: exactly count samples, no duplicates, no orphan files", async () => {
    const dirs = jobTestDirs();
    cleanups.push(() => dirs.remove());
    const fresh = await freshPostgresUrl(TEST_DATABASE_URL!);
    cleanups.push(() => fresh.drop());
    const db: Database = await openDatabase({ kind: "postgresql", url: fresh.url });
    cleanups.push(() => db.close());
    const api: TestService = await startTestService(db, {
      modelsDir: dirs.modelsDir,
      dataDir: dirs.dataDir,
      importLibraryOnStart: false,
      runWorker: false,
      taskExpireSeconds: EXPIRE_SECONDS,
    });
    cleanups.push(() => api.close());
    const scenarioId = await createTinyScenario(api);

    for (let i = 0; i < 3; i++) {
      const worker: WorkerProcess = spawnRareforge(["worker"], {
        DATABASE_URL: fresh.url,
        RAREFORGE_DATA_DIR: dirs.dataDir,
        RAREFORGE_MODELS_DIR: dirs.modelsDir,
        RAREFORGE_TASK_EXPIRE_SECONDS: String(EXPIRE_SECONDS),
        RAREFORGE_ONNX_THREADS: "1",
        LOG_LEVEL: "info",
      });
      workers.push(worker);
    }
    await until(() => workers.every((w) => w.lines.some((l) => l.msg === "generation worker started")), "three workers to start");

    // 1000 steps make a batch of 8 take about a second on the tiny model: long enough to kill it mid-way
    const requested = await api.graphql(REQUEST, { scenarioId, count: 48, batchSize: 8, sampler: "DDIM", steps: 1000, guidance: 3, seed: 5 });
    const job = requested.data!.requestGeneration.data;
    expect(job.taskCount).toBe(6);

    const started = (w: WorkerProcess) => w.lines.filter((l) => l.event === "batch-started");
    await until(() => workers.some((w) => started(w).length > 0), "a batch to start");
    const victim = workers.find((w) => started(w).length > 0)!;
    const task = started(victim)[0];
    await new Promise((r) => setTimeout(r, 200));
    // still mid-batch: it has not committed that task
    expect(victim.lines.some((l) => l.event === "batch-committed" && l.start === task.start)).toBe(false);
    victim.child.kill("SIGKILL");
    await new Promise((r) => victim.child.once("exit", r));

    const finished = await waitForJob(api, job.id, (j) => !["QUEUED", "RUNNING"].includes(j.status), 90_000);
    expect(finished).toMatchObject({ status: "SUCCEEDED", completedCount: 48, failedCount: 0 });

    // exactly count samples, each index once, each with its artifact
    const samples = await db.prisma.sample.findMany({ where: { jobId: job.uuid }, include: { artifact: true } });
    expect(samples).toHaveLength(48);
    expect(new Set(samples.map((s) => s.index)).size).toBe(48);
    expect(samples.map((s) => s.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i));
    expect(samples.every((s) => s.status === "OK" && s.artifact !== null)).toBe(true);
    // the killed worker's batch was redone by another worker
    const redone = samples.filter((s) => s.index >= task.start && s.index < task.end);
    expect(redone).toHaveLength(task.end - task.start);
    expect(redone.every((s) => s.workerId !== workerIdOf(victim))).toBe(true);

    // no orphan files: the store holds exactly the artifacts the database knows, and no temporary files
    const store = new ArtifactStore(path.join(dirs.dataDir, "artifacts"));
    const stored = (await store.list()).sort();
    const known = (await db.prisma.artifact.findMany({ select: { sha256: true } })).map((a) => a.sha256).sort();
    expect(stored).toEqual(known);
    expect(stored).toHaveLength(new Set(samples.map((s) => s.artifact!.sha256)).size);
    expect(await store.temporaryFiles()).toEqual([]);
    expect(readdirSync(dirs.dataDir)).toContain("artifacts");
  }, 150_000);
});
