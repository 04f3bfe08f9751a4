// bench/export: memory growth of the server while it streams a 10,000-sample export, and its throughput
// against a reference measured in the same run (reading the same artifact files straight from the store).
//
//   node --import tsx bench/export/run.ts [--count 10000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
//
// Samples are inserted directly (rows + a 64x64 PNG each, test/export/seed.ts), then a separate server process
// (bench/export/server.ts, run with --expose-gc) serves /exports/<id>.zip. The server samples its own
// process.memoryUsage() every 20 ms; "before" and "after" are taken after a forced GC. The client reads the
// zip as it streams and keeps only a hash of it. As a cross-check of the 20 ms samples, the kernel's own peak
// (VmHWM in /proc/<pid>/status, reset through /proc/<pid>/clear_refs before each download) is read too where
// Linux allows it.
import { fork } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { readAdminKeyFile } from "../../src/access/index.ts";
import { databaseOptionsFromConfig, openDatabase, type Database } from "../../src/db/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { seedJob } from "../../test/export/seed.ts";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const COUNT = Number(option("count") ?? 10_000);
const postgresBase = option("postgres");
const MB = 1024 * 1024;
const loadAverageAtStart = readFileSync("/proc/loadavg", "utf8").trim();

/** Resets the kernel's peak-RSS counter of a process; false where that is not possible. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}
/** The kernel's peak RSS of a process since its last reset (VmHWM), in bytes; null where unknown. */
function peakRss(pid: number): number | null {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

type Memory = NodeJS.MemoryUsage;
interface ServerMessage {
  kind: "ready" | "sample" | "gc";
  url?: string;
  memory?: Memory;
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-bench-export-"));
let databaseUrl: string | undefined;
let dropDatabase = async () => {};
if (postgresBase) {
  const name = `rareforge_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: postgresBase });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresBase);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  dropDatabase = async () => {
    const c = new pg.Client({ connectionString: postgresBase });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
}

// 1. Seed (this process), then close the database so the server can open it (PGlite: one process at a time).
const seedStarted = performance.now();
const db: Database = await openDatabase(databaseOptionsFromConfig({ dataDir, databaseUrl }));
await db.migrate();
const store = artifactStoreFromConfig({ dataDir });
const outcomes = ["HIT", "MISS", "WRONG_CLASS", "HIT"] as const;
const seeded = await seedJob(db, store, { scenario: "small-distant-hazards-sweep", count: COUNT, outcome: (i) => outcomes[i % 4]!, chunk: 1000 });
await db.close();
console.log(`seeded ${COUNT} samples in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

// 2. Reference: read every artifact file of the job from the store, sequentially, as bytes.
const referenceStarted = performance.now();
let referenceBytes = 0;
for (const sample of seeded.samples) for await (const chunk of store.read(sample.sha256)) referenceBytes += (chunk as Buffer).length;
const referenceSeconds = (performance.now() - referenceStarted) / 1000;

// 3. The server process.
const server = fork(new URL("./server.ts", import.meta.url).pathname, [], {
  execArgv: ["--import", "tsx", "--expose-gc"],
  env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}), LOG_LEVEL: "warn" },
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
let latest: Memory | undefined;
let peak: { rss: number; heapUsed: number; external: number; arrayBuffers: number } = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
let waiting: ((m: ServerMessage) => void) | undefined;
/** Every memory sample during a download: [ms since it started, rss, heapUsed]. */
let timeline: Array<[number, number, number]> | undefined;
let downloadStarted = 0;
server.on("message", (message: ServerMessage) => {
  if (message.memory) {
    latest = message.memory;
    timeline?.push([performance.now() - downloadStarted, message.memory.rss, message.memory.heapUsed]);
    for (const key of Object.keys(peak) as Array<keyof typeof peak>) peak[key] = Math.max(peak[key], message.memory[key]);
  }
  if (message.kind !== "sample" && waiting) {
    const resolve = waiting;
    waiting = undefined;
    resolve(message);
  }
});
const next = (send?: string) =>
  new Promise<ServerMessage>((resolve) => {
    waiting = resolve;
    if (send) server.send({ kind: send });
  });
const ready = await next();
const url = ready.url!;
// the admin key the server wrote into the data directory at its first start
const adminKey = await readAdminKeyFile(dataDir);
if (!adminKey) throw new Error(`the server wrote no admin key into ${dataDir}/secrets`);
const authorization = `Bearer ${adminKey}`;
const graphql = async (query: string, variables: Record<string, unknown>) => {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), authorization }, body });
  return (await response.json()) as any;
};

interface FormatResult {
  format: string;
  samples: number;
  zipMB: number;
  seconds: number;
  samplesPerSecond: number;
  /** Export time over the reference's (reading the same artifact files raw). */
  timeVsReference: number;
  memoryMB: {
    rssBefore: number;
    rssPeak: number;
    rssAfter: number;
    heapBefore: number;
    heapPeak: number;
    heapAfter: number;
    rssGrowthPeak: number;
    heapGrowthPeak: number;
    rssGrowthAfter: number;
    /** The kernel's peak RSS during the download (VmHWM after a reset) less rssBefore; null where unavailable. */
    kernelRssGrowthPeak: number | null;
    /** Peak RSS growth in each tenth of the download's duration: flat if memory does not grow with samples written. */
    rssGrowthPeakByTenth: number[];
  };
}

const results: FormatResult[] = [];
for (const format of ["YOLO", "COCO"]) {
  const created = await graphql(
    `mutation($filter: ExportFilter, $format: ExportFormat!) { exportDataset(filter: $filter, format: $format) { __typename ... on MutationExportDatasetSuccess { data { id url sampleCount } } ... on Error { message } } }`,
    { filter: { jobId: seeded.jobId }, format },
  );
  const exportRow = created.data.exportDataset.data;
  if (!exportRow) throw new Error(JSON.stringify(created));
  const before = (await next("gc")).memory!;
  peak = { rss: before.rss, heapUsed: before.heapUsed, external: before.external, arrayBuffers: before.arrayBuffers };
  const kernelPeakReset = resetPeakRss(server.pid!);
  const started = performance.now();
  downloadStarted = started;
  timeline = [];
  const response = await fetch(`${url}${exportRow.url}`, { headers: { authorization } });
  if (!response.ok) throw new Error(`GET ${exportRow.url}: ${response.status} ${await response.text()}`);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const duringPeak = { ...peak };
  const samples = timeline;
  timeline = undefined;
  const tenths = Array.from({ length: 10 }, () => before.rss);
  for (const [at, rss] of samples) {
    const tenth = Math.min(9, Math.floor((at / 1000 / seconds) * 10));
    tenths[tenth] = Math.max(tenths[tenth]!, rss);
  }
  const kernelPeak = kernelPeakReset ? peakRss(server.pid!) : null;
  const after = (await next("gc")).memory!;
  const status = await graphql(`query($id: ID!) { datasetExport(id: $id) { ... on QueryDatasetExportSuccess { data { status writtenCount } } } }`, { id: exportRow.id });
  if (status.data.datasetExport.data.status !== "COMPLETED") throw new Error(`export ${format} ended ${JSON.stringify(status)}`);
  const m = (v: number) => Math.round((v / MB) * 10) / 10;
  results.push({
    format,
    samples: status.data.datasetExport.data.writtenCount,
    zipMB: m(bytes),
    seconds: Math.round(seconds * 100) / 100,
    samplesPerSecond: Math.round(exportRow.sampleCount / seconds),
    timeVsReference: Math.round((seconds / referenceSeconds) * 10) / 10,
    memoryMB: {
      rssBefore: m(before.rss),
      rssPeak: m(duringPeak.rss),
      rssAfter: m(after.rss),
      heapBefore: m(before.heapUsed),
      heapPeak: m(duringPeak.heapUsed),
      heapAfter: m(after.heapUsed),
      rssGrowthPeak: m(duringPeak.rss - before.rss),
      heapGrowthPeak: m(duringPeak.heapUsed - before.heapUsed),
      rssGrowthAfter: m(after.rss - before.rss),
      kernelRssGrowthPeak: kernelPeak === null ? null : m(kernelPeak - before.rss),
      rssGrowthPeakByTenth: tenths.map((rss) => m(rss - before.rss)),
    },
  });
  console.log(JSON.stringify(results.at(-1)));
}
void latest;
server.send({ kind: "stop" });
await new Promise((r) => server.once("exit", r));
await dropDatabase();
rmSync(dataDir, { recursive: true, force: true });

const summary = {
  command: `nice -n 5 node --import tsx bench/export/run.ts --count ${COUNT}${postgresBase ? " --postgres <url>" : ""}`,
  backend: postgresBase ? "postgresql" : "pglite",
  count: COUNT,
  reference: { what: "read the same artifact files from the store, sequentially", seconds: Math.round(referenceSeconds * 100) / 100, MB: Math.round((referenceBytes / MB) * 10) / 10 },
  loadAverage: { atStart: loadAverageAtStart, atEnd: readFileSync("/proc/loadavg", "utf8").trim() },
  cpus: os.cpus().length,
  node: process.version,
  results,
};
// The 10,000-sample run is the reported one; other counts are kept beside it.
writeFileSync(new URL(`./results-${summary.backend}${COUNT === 10_000 ? "" : `-${COUNT}`}.json`, import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 2));
