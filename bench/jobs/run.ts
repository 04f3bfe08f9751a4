// bench/jobs: end-to-end job throughput and per-job overhead with the tiny test model, on the embedded
// database (in-process worker) and on PostgreSQL with 1, 2 and 4 `rareforge worker` processes.
//
//   node --import tsx bench/jobs/run.ts [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--workers 1,2,4]
//
// Per-job overhead: a 1-sample, 1-step job timed from just before `requestGeneration` (over HTTP) to the
// job's finishedAt, minus the time its samples spent inside onnxruntime (recorded per sample). It covers
// the GraphQL request, validation, job + task inserts, queue pickup, the batch commit and finalisation.
// Throughput: one job of THROUGHPUT_COUNT samples in batches of 8, samples per second from request to finish.
// Workers run onnxruntime single-threaded (RAREFORGE_ONNX_THREADS=1), concurrency 1 each.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { RunningService } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { createLogger } from "../../src/logger.ts";
import { startWithAdminKey } from "../service.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TINY = path.join(ROOT, "test/fixtures/tiny-model");
const OVERHEAD_JOBS = 30;
const THROUGHPUT_COUNT = 768;
const THROUGHPUT_STEPS = 50;

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const postgresUrl = option("postgres");
const workerCounts = (option("workers") ?? "1,2,4").split(",").map(Number);

interface Result {
  backend: string;
  workers: number;
  overheadMs: { median: number; p90: number; mean: number };
  /** Medians of the overhead's parts: request handled (job row written), queue pickup, worker outside onnxruntime. */
  overheadPhasesMs: { request: number; pickup: number; work: number };
  latencyMs: { median: number };
  throughput: { samples: number; seconds: number; samplesPerSecond: number; onnxShare: number; workerCpuSeconds: number; workerCpuShare: number };
  loadAverage: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The service under measurement and the admin key its requests send. */
interface BenchApi {
  service: RunningService;
  adminKey: string;
}

async function graphql(api: BenchApi, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${api.service.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${api.adminKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: any; errors?: unknown };
}

const REQUEST = `mutation($s: ID!, $count: Int!, $steps: Int!, $seed: Int!, $batch: Int!) {
  requestGeneration(scenarioId: $s, count: $count, sampler: DDIM, steps: $steps, guidance: 3, seed: $seed, batchSize: $batch) {
    __typename ... on MutationRequestGenerationSuccess { data { uuid } } ... on Error { message } } }`;

async function runJob(api: BenchApi, db: Database, scenarioId: string, count: number, steps: number, seed: number, pollMs = 20) {
  const t0 = Date.now();
  const response = await graphql(api, REQUEST, { s: scenarioId, count, steps, seed, batch: 8 });
  const jobId = response.data?.requestGeneration?.data?.uuid;
  if (!jobId) throw new Error(JSON.stringify(response));
  for (;;) {
    const job = await db.prisma.generationJob.findUniqueOrThrow({ where: { id: jobId } });
    if (!["QUEUED", "RUNNING"].includes(job.status)) {
      if (job.status !== "SUCCEEDED") throw new Error(`job ended ${job.status}`);
      const samples = await db.prisma.sample.findMany({ where: { jobId }, select: { timings: true } });
      const onnxMs = samples.reduce((sum, s) => sum + ((s.timings as { onnxMs?: number }).onnxMs ?? 0), 0);
      const phases = {
        requestMs: job.createdAt.getTime() - t0,
        pickupMs: job.startedAt!.getTime() - job.createdAt.getTime(),
        workMs: job.finishedAt!.getTime() - job.startedAt!.getTime() - onnxMs,
      };
      return { latencyMs: job.finishedAt!.getTime() - t0, onnxMs, phases };
    }
    // The latency is read from the job's finishedAt, so the polling period only sets how often this loop
    // competes with the workers for the CPU (and, on PGlite, for the one database connection), not the figure.
    await sleep(pollMs);
  }
}

/** CPU seconds (user + system) used so far by the given processes, from /proc (Linux). */
function processCpuSeconds(pids: number[]): number {
  const tick = 100; // USER_HZ
  return pids.reduce((sum, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return sum + (Number(fields[11]) + Number(fields[12])) / tick;
  }, 0);
}

async function measure(backend: string, workers: number, api: BenchApi, db: Database, scenarioId: string, workerPids: number[]): Promise<Result> {
  // warm-up: sessions opened in every worker
  for (let i = 0; i < Math.max(2, workers * 2); i++) await runJob(api, db, scenarioId, 8, 1, 1000 + i);
  const overheads: number[] = [];
  const latencies: number[] = [];
  const phases = { request: [] as number[], pickup: [] as number[], work: [] as number[] };
  for (let i = 0; i < OVERHEAD_JOBS; i++) {
    const { latencyMs, onnxMs, phases: p } = await runJob(api, db, scenarioId, 1, 1, i);
    latencies.push(latencyMs);
    overheads.push(latencyMs - onnxMs);
    phases.request.push(p.requestMs);
    phases.pickup.push(p.pickupMs);
    phases.work.push(p.workMs);
  }
  const cpuBefore = processCpuSeconds(workerPids);
  const run = await runJob(api, db, scenarioId, THROUGHPUT_COUNT, THROUGHPUT_STEPS, 4242, 250);
  const workerCpuSeconds = processCpuSeconds(workerPids) - cpuBefore;
  const seconds = run.latencyMs / 1000;
  const result: Result = {
    backend,
    workers,
    overheadMs: { median: median(overheads), p90: quantile(overheads, 0.9), mean: overheads.reduce((a, b) => a + b, 0) / overheads.length },
    overheadPhasesMs: { request: median(phases.request), pickup: median(phases.pickup), work: median(phases.work) },
    latencyMs: { median: median(latencies) },
    throughput: { samples: THROUGHPUT_COUNT, seconds, samplesPerSecond: THROUGHPUT_COUNT / seconds, onnxShare: run.onnxMs / 1000 / (seconds * workers), workerCpuSeconds, workerCpuShare: workerCpuSeconds / (seconds * workers) },
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
  console.error(JSON.stringify(result));
  return result;
}

function tinyModelsDir(root: string): string {
  const dir = path.join(root, "models", "tiny-model");
  cpSync(path.join(TINY, "model.json"), path.join(dir, "model.json"), { recursive: true });
  cpSync(path.join(TINY, "denoiser.onnx"), path.join(dir, "denoiser.onnx"));
  return path.join(root, "models");
}

async function startApi(db: Database, root: string, runWorker: boolean) {
  const config = loadConfig(process.env, {
    port: 0,
    logLevel: "silent",
    dataDir: path.join(root, "data"),
    modelsDir: tinyModelsDir(root),
    importLibraryOnStart: false,
    runWorker,
    onnxThreads: 1,
    workerConcurrency: 1,
  });
  const api: BenchApi = await startWithAdminKey(config, { db, logger: createLogger("silent") });
  const yaml = readFileSync(path.join(TINY, "scenarios", "tiny-pedestrian-fog.yaml"), "utf8");
  await api.service.services.scenarios.importYaml(yaml, "API");
  const scenario = await db.prisma.scenario.findUniqueOrThrow({ where: { name: "tiny-pedestrian-fog" } });
  return { api, scenarioId: Buffer.from(`Scenario:${scenario.id}`).toString("base64") };
}

async function benchPglite(): Promise<Result> {
  const root = mkdtempSync(path.join(os.tmpdir(), "rareforge-bench-"));
  const db = await openDatabase({ kind: "pglite" });
  const { api, scenarioId } = await startApi(db, root, true);
  try {
    return await measure("pglite (in-process worker)", 1, api, db, scenarioId, [process.pid]);
  } finally {
    await api.service.close();
    await db.close();
    rmSync(root, { recursive: true, force: true });
  }
}

async function benchPostgres(baseUrl: string, workers: number): Promise<Result> {
  const name = `rareforge_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const root = mkdtempSync(path.join(os.tmpdir(), "rareforge-bench-"));
  const db = await openDatabase({ kind: "postgresql", url: url.toString() });
  const { api, scenarioId } = await startApi(db, root, false);
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "worker"], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: url.toString(), RAREFORGE_DATA_DIR: path.join(root, "data"), RAREFORGE_MODELS_DIR: path.join(root, "models"), RAREFORGE_ONNX_THREADS: "1", LOG_LEVEL: "warn" },
        stdio: ["ignore", "inherit", "inherit"],
      });
      children.push(child);
    }
    while ((await db.prisma.workerInstance.count()) < workers) await sleep(100);
    return await measure("postgresql", workers, api, db, scenarioId, children.map((c) => c.pid!));
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
    await api.service.close();
    await db.close();
    await admin.end();
    createdDatabases.push(name);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Bench databases are dropped at the very end, once every pool of every run is long closed. */
const createdDatabases: string[] = [];
const results: Result[] = [];
if (!args.includes("--no-pglite")) results.push(await benchPglite());
if (postgresUrl) for (const n of workerCounts) results.push(await benchPostgres(postgresUrl, n));

const lines = [
  `| backend | worker processes | per-job overhead median (p90) | 1-sample job latency median | throughput (${THROUGHPUT_COUNT} samples, ${THROUGHPUT_STEPS} steps, batch 8) | onnxruntime share of worker wall time | CPU each worker got (of one core) | load average (1 min) |`,
  "|---|---|---|---|---|---|---|---|",
  ...results.map(
    (r) =>
      `| ${r.backend} | ${r.workers} | ${r.overheadMs.median.toFixed(1)} ms (${r.overheadMs.p90.toFixed(1)} ms) | ${r.latencyMs.median.toFixed(1)} ms | ${r.throughput.samplesPerSecond.toFixed(1)} samples/s (${r.throughput.seconds.toFixed(2)} s) | ${(r.throughput.onnxShare * 100).toFixed(0)} % | ${(r.throughput.workerCpuShare * 100).toFixed(0)} % | ${r.loadAverage[0]} |`,
  ),
];
console.log(lines.join("\n"));
writeFileSync(path.join(ROOT, "bench/jobs/results.json"), `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, results }, null, 2)}\n`);
if (postgresUrl && createdDatabases.length > 0) {
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  for (const name of createdDatabases) await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch((error: Error) => console.error(`could not drop ${name}: ${error.message}`));
  await admin.end();
}
process.exit(0);
