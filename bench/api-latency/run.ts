// bench/api-latency: GraphQL read latency under many concurrent clients, on embedded PGlite and
// (with --postgres) on a PostgreSQL server, in the same run.
//
//   node --import tsx bench/api-latency/run.ts [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
//        [--clients 200] [--requests 4000] [--port 4640] [--no-pglite] [--trace] [--mix full|reads]
//        [--label NAME] [--out results.json] [--warmup N]
//
// The service is the real one (src/app.ts startService, in-process generation worker and queue included) on a
// temporary RAREFORGE_DATA_DIR with the scenario library imported, plus seeded jobs, samples and scores so the
// reads return realistic rows. A separate load process (this file with --load) opens `clients` keep-alive
// connections to 127.0.0.1 and sends `requests` requests in all, each client one at a time, a weighted mix of
// the reads the gallery and the CLI make, as the admin key the service made at its first start; every latency is recorded. --trace (PGlite only) also measures, in
// the service process, how long statements wait for PGlite's one connection and how long they hold it, the
// statements per request and the event-loop delay.
//
// --mix full (the default) is the gallery's mix with scenarioReport (a report over the 2000 seeded samples, about
// two thirds of the CPU); --mix reads leaves the report out and sends only the cheap list and detail reads
// (scenarios, jobs, a samples page, detectors, one job by id). --out names the results file in this folder
// (default results.json); --label is recorded in it.
import { fork } from "node:child_process";
import diagnostics from "node:diagnostics_channel";
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import { rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import pg from "pg";
import type { RunningService } from "../../src/app.ts";
import type { Database } from "../../src/db/index.ts";
import { startBenchService } from "../service.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const JOBS = 40;
const SAMPLES_PER_JOB = 50;

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const clients = Number(option("clients") ?? 200);
const requests = Number(option("requests") ?? 4000);
const basePort = Number(option("port") ?? 4640);
const mix = option("mix") ?? "full";
if (mix !== "full" && mix !== "reads") throw new Error(`--mix ${mix}: give full or reads`);
const outFile = option("out") ?? "results.json";
if (path.basename(outFile) !== outFile || !outFile.endsWith(".json")) throw new Error(`--out ${outFile}: give a .json file name in bench/api-latency`);
const label = option("label");
/** Requests of each read sent one at a time before the measured load (a warm service: query plans compiled, code optimised); default 0. */
const warmup = Number(option("warmup") ?? 0);

// ---------------------------------------------------------------------------------------------------------
// The read mix: each entry a GraphQL document, its weight, and the variables it needs from the seeded data.

interface Ids {
  scenarioId: string;
  jobId: string;
  detectorId: string;
}

interface Read {
  name: string;
  weight: number;
  query: string;
  variables: (ids: Ids) => Record<string, unknown>;
}

const FULL_MIX: Read[] = [
  {
    name: "scenarios",
    weight: 30,
    query: `{ scenarios(first: 50) { totalCount edges { node { id name domain tags modelName latestVersion currentVersion { version specHash spec } } } } }`,
    variables: () => ({}),
  },
  {
    name: "jobs",
    weight: 20,
    query: `{ jobs(first: 20) { totalCount edges { node { id status count completedCount failedCount sampler steps createdAt scenarioVersion { version scenario { name } } } } } }`,
    variables: () => ({}),
  },
  {
    name: "samples",
    weight: 25,
    query: `query($job: ID!) { samples(first: 24, jobId: $job) { totalCount edges { node { id index status parameters labels provenance artifact { url byteSize } scores { outcome confidence realismValid } } } } }`,
    variables: (ids) => ({ job: ids.jobId }),
  },
  {
    name: "detectors",
    weight: 15,
    query: `{ detectors(first: 10) { totalCount edges { node { id name version domain classNames } } } }`,
    variables: () => ({}),
  },
  {
    name: "scenarioReport",
    weight: 10,
    query: `query($s: ID!, $d: ID!) { scenarioReport(scenarioId: $s, detectorId: $d) { __typename ... on QueryScenarioReportSuccess { data { samples unscored overall { n misses rate lower upper } byParameter { parameter levels { label n rate } } hardest { outcome confidence artifactUrl } } } } }`,
    variables: (ids) => ({ s: ids.scenarioId, d: ids.detectorId }),
  },
];

/** The cheap reads only: the full mix without scenarioReport, and one job by id in its place. */
const READS_MIX: Read[] = [
  ...FULL_MIX.filter((r) => r.name !== "scenarioReport"),
  {
    name: "job",
    weight: 10,
    query: `query($job: ID!) { job(id: $job) { __typename ... on QueryJobSuccess { data { id status count completedCount failedCount sampler steps guidance createdAt scenarioVersion { version scenario { name } } } } } }`,
    variables: (ids) => ({ job: ids.jobId }),
  },
];

const READS = mix === "reads" ? READS_MIX : FULL_MIX;

// ---------------------------------------------------------------------------------------------------------
// Load process: `clients` concurrent keep-alive clients, `requests` in all, latencies back over IPC.

interface LoadResult {
  latenciesMs: number[];
  /** Per request: [request number, start (ms since the load began), latency (ms), sent on a reused connection (0/1)]. */
  records: Array<[number, number, number, number]>;
  byRead: Record<string, number[]>;
  errors: number;
  firstError?: string;
  seconds: number;
}

function post(agent: http.Agent, port: number, apiKey: string, body: string, n: number): Promise<{ status: number; text: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/graphql",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${apiKey}`, "x-bench-request": String(n) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), reused: req.reusedSocket }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** `warmup` sequential requests of each read, not measured. */
async function warmUp(port: number, apiKey: string, ids: Ids): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  for (const read of READS) {
    const body = JSON.stringify({ query: read.query, variables: read.variables(ids) });
    for (let i = 0; i < warmup; i++) {
      const { status } = await post(agent, port, apiKey, body, -1);
      if (status !== 200) throw new Error(`warm-up ${read.name}: HTTP ${status}`);
    }
  }
  agent.destroy();
}

async function runLoad(port: number, apiKey: string, ids: Ids): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const total = READS.reduce((s, r) => s + r.weight, 0);
  const bodies = READS.map((r) => JSON.stringify({ query: r.query, variables: r.variables(ids) }));
  const latenciesMs: number[] = [];
  const records: LoadResult["records"] = [];
  const byRead: Record<string, number[]> = Object.fromEntries(READS.map((r) => [r.name, []]));
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const client = async (c: number) => {
    // A fixed, per-client sequence: every run sends the same mix in the same order.
    let draw = c * 7919;
    while (issued < requests) {
      const n = issued++;
      draw = (draw * 1103515245 + 12345 + n) % 2147483648;
      let pick = draw % total;
      const i = READS.findIndex((r) => (pick -= r.weight) < 0);
      const t0 = performance.now();
      try {
        const { status, text, reused } = await post(agent, port, apiKey, bodies[i]!, n);
        const ms = performance.now() - t0;
        records.push([n, t0 - started, ms, reused ? 1 : 0]);
        if (status !== 200 || text.includes('"errors"')) {
          errors++;
          firstError ??= `${READS[i]!.name}: ${status} ${text.slice(0, 300)}`;
        }
        latenciesMs.push(ms);
        byRead[READS[i]!.name]!.push(ms);
      } catch (error) {
        errors++;
        firstError ??= `${READS[i]!.name}: ${(error as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  agent.destroy();
  return { latenciesMs, records, byRead, errors, ...(firstError ? { firstError } : {}), seconds: (performance.now() - started) / 1000 };
}


// ---------------------------------------------------------------------------------------------------------
// Service process.

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

interface HttpTrace {
  /** Request number -> [the server saw the request (performance.now() ms), its response finished, its connection was accepted]. */
  server: Map<number, [number, number, number]>;
}

/** Times each request inside the server, from Node's http diagnostics channels, keyed by the bench's request number. */
function traceHttp(): HttpTrace {
  const trace: HttpTrace = { server: new Map() };
  const accepted = new WeakMap<object, number>();
  diagnostics.subscribe("net.server.socket", (message) => void accepted.set((message as { socket: object }).socket, performance.now()));
  const requestNumber = (message: unknown) => Number((message as { request: http.IncomingMessage }).request.headers["x-bench-request"] ?? -1);
  diagnostics.subscribe("http.server.request.start", (message) => {
    const { socket } = message as { socket: object };
    trace.server.set(requestNumber(message), [performance.now(), Number.NaN, accepted.get(socket) ?? Number.NaN]);
  });
  diagnostics.subscribe("http.server.response.finish", (message) => {
    const entry = trace.server.get(requestNumber(message));
    if (entry) entry[1] = performance.now();
  });
  return trace;
}

interface PgliteTrace {
  statements: number;
  waitMs: number[];
  holdMs: number[];
  transactions: number;
  transactionHoldMs: number[];
}

/**
 * Wraps PGlite's two exclusive sections (the transaction mutex every public query/exec/transaction takes, and
 * the query mutex inside it) to time how long each statement waited for the connection and how long it held it.
 */
function tracePglite(db: Database): PgliteTrace {
  const trace: PgliteTrace = { statements: 0, waitMs: [], holdMs: [], transactions: 0, transactionHoldMs: [] };
  const pglite = db.pglite as unknown as Record<string, (...a: any[]) => Promise<unknown>>;
  const exclusive = pglite._runExclusiveTransaction!.bind(pglite);
  pglite._runExclusiveTransaction = (fn: () => Promise<unknown>) => {
    const queued = performance.now();
    return exclusive(async () => {
      const entered = performance.now();
      trace.waitMs.push(entered - queued);
      try {
        return await fn();
      } finally {
        trace.holdMs.push(performance.now() - entered);
      }
    });
  };
  const query = pglite._runExclusiveQuery!.bind(pglite);
  pglite._runExclusiveQuery = (fn: () => Promise<unknown>) => {
    trace.statements++;
    return query(fn);
  };
  const transaction = pglite.transaction!.bind(pglite);
  pglite.transaction = (callback: (tx: unknown) => Promise<unknown>) =>
    transaction(async (tx: unknown) => {
      const t0 = performance.now();
      trace.transactions++;
      try {
        return await callback(tx);
      } finally {
        trace.transactionHoldMs.push(performance.now() - t0);
      }
    });
  return trace;
}

/** The slowest 1 % of requests: how much of their latency the server spent on them, and where in the run they started. */
function slowestRequests(load: LoadResult, http: HttpTrace) {
  const sorted = [...load.records].sort((a, b) => b[2] - a[2]);
  const slow = sorted.slice(0, Math.max(1, Math.ceil(sorted.length / 100)));
  const inServer = slow.map(([n]) => {
    const entry = http.server.get(n);
    return entry ? entry[1] - entry[0] : Number.NaN;
  });
  return {
    count: slow.length,
    latencyMs: summary(slow.map((r) => r[2])),
    inServerMs: summary(inServer.filter(Number.isFinite)),
    /** For requests first on their connection: from accepting the connection to reading the request. */
    acceptedToReadMs: summary(slow.filter((r) => r[3] === 0).map(([n]) => { const e = http.server.get(n); return e ? e[0] - e[2] : Number.NaN; }).filter(Number.isFinite)),
    beforeServerMs: summary(slow.map((r, i) => r[2] - inServer[i]!).filter(Number.isFinite)),
    startedAtMs: summary(slow.map((r) => r[1])),
    firstOnConnection: slow.filter((r) => r[3] === 0).length,
  };
}

async function seed(db: Database, service: RunningService): Promise<Ids> {
  await service.services.detectors.ensureShipped();
  const scenario = await db.prisma.scenario.findUniqueOrThrow({ where: { name: "deer-crossing-night-fog" }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
  const version = scenario.versions[0]!;
  const detector = await db.prisma.detectorPackage.findFirstOrThrow({ where: { name: { contains: "road" } } });
  const jobIds: string[] = [];
  for (let j = 0; j < JOBS; j++) {
    const job = await db.prisma.generationJob.create({
      data: {
        scenarioVersionId: version.id,
        status: "SUCCEEDED",
        count: SAMPLES_PER_JOB,
        batchSize: 8,
        sampler: "ddim",
        steps: 20,
        guidance: 3,
        seed: BigInt(j),
        executionProvider: "cpu",
        completedCount: SAMPLES_PER_JOB,
        taskCount: Math.ceil(SAMPLES_PER_JOB / 8),
        startedAt: new Date(),
        finishedAt: new Date(),
      },
    });
    jobIds.push(job.id);
    const samples = Array.from({ length: SAMPLES_PER_JOB }, (_, index) => {
      const parameters = { hazard: "animal", weather: index % 3 === 0 ? "fog" : "clear", timeOfDay: "night", hazardCx: 0.3 + (index % 10) / 25, hazardCy: 0.6, hazardW: 0.12, hazardH: 0.1 };
      const sha256 = randomBytes(32).toString("hex");
      return {
        id: randomUUID(),
        sha256,
        row: {
          jobId: job.id,
          index,
          scenarioVersionId: version.id,
          status: "OK" as const,
          parameters,
          condition: Array.from({ length: 16 }, (_, k) => (index * 16 + k) / 1000),
          labels: [{ class: "animal", box: [0.3, 0.55, 0.42, 0.65] }],
          sampler: "ddim",
          steps: 20,
          guidance: 3,
          seed: BigInt(j),
          executionProvider: "cpu",
          onnxruntimeVersion: "1.30.0",
          rareforgeVersion: "0.1.0",
          provenance: { record: { scenario: scenario.name, version: version.version, parameters, sampler: "ddim", steps: 20, guidance: 3, seed: j, index }, recordJson: JSON.stringify({ parameters, index }), artifact: { sha256, mediaType: "image/png", byteSize: 40_000 } },
          timings: { onnxMs: 120, totalMs: 150 },
          workerId: "bench",
        },
      };
    });
    await db.prisma.artifact.createMany({ data: samples.map((s) => ({ id: s.id, sha256: s.sha256, mediaType: "image/png", byteSize: 40_000 })) });
    await db.prisma.sample.createMany({ data: samples.map((s) => ({ ...s.row, artifactId: s.id })) });
    const rows = await db.prisma.sample.findMany({ where: { jobId: job.id }, select: { id: true, index: true } });
    await db.prisma.score.createMany({
      data: rows.map((s) => ({ sampleId: s.id, detectorPackageId: detector.id, outcome: s.index % 4 === 0 ? ("MISS" as const) : ("HIT" as const), confidence: s.index % 4 === 0 ? 0 : 0.5 + (s.index % 10) / 20, iou: 0.6 })),
    });
  }
  const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");
  return { scenarioId: gid("Scenario", scenario.id), jobId: gid("GenerationJob", jobIds[0]!), detectorId: gid("DetectorPackage", detector.id) };
}

interface BackendResult {
  backend: string;
  mix: string;
  clients: number;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  over1s: number;
  over2s: number;
  over3s: number;
  byRead: Record<string, { n: number; p50: number; p99: number; max: number }>;
  /** Requests sent on a connection already open (keep-alive) vs the first of each connection (opened in the run's first burst). */
  byConnection: { reused: { n: number; p50: number; p99: number; max: number }; first: { n: number; p50: number; p99: number; max: number } };
  eventLoopDelayMs: { p99: number; max: number };
  slowest?: ReturnType<typeof slowestRequests>;
  trace?: {
    statementsPerRequest: number;
    waitMs: { p50: number; p99: number; max: number };
    holdMs: { p50: number; p99: number; max: number };
    transactions: number;
    transactionHoldMs: { p50: number; max: number };
  };
  loadAverage: number[];
}

const summary = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? { p50: 0, p99: 0, max: 0 } : { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! };
};

async function bench(backend: string, port: number, databaseUrl: string | undefined): Promise<BackendResult> {
  const { root, config, db, service, adminKey } = await startBenchService({ port, name: "api-latency", ...(databaseUrl ? { databaseUrl } : {}) });
  try {
    const ids = await seed(db, service);
    const httpTrace = args.includes("--trace") ? traceHttp() : undefined;
    const trace = args.includes("--trace") && db.kind === "pglite" ? tracePglite(db) : undefined;
    if (warmup > 0) await warmUp(port, adminKey, ids);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const load = await new Promise<LoadResult>((resolve, reject) => {
      const child = fork(new URL(import.meta.url).pathname, ["--load", "--target", String(port), "--ids", JSON.stringify(ids), "--clients", String(clients), "--requests", String(requests), "--mix", mix], {
        execArgv: ["--import", "tsx"],
        // the key travels in the environment, not on a command line others can read
        env: { ...process.env, RAREFORGE_API_KEY: adminKey },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      child.once("message", (m) => resolve(m as LoadResult));
      child.once("exit", (code) => code !== 0 && reject(new Error(`load process exited ${code}`)));
    });
    delay.disable();
    const sent = (load as LoadResult & { mix?: string }).mix;
    if (sent !== mix) throw new Error(`the load process sent the ${sent} mix, not ${mix}`);
    const sorted = [...load.latenciesMs].sort((a, b) => a - b);
    const result: BackendResult = {
      backend,
      mix,
      clients,
      requests: load.latenciesMs.length,
      errors: load.errors,
      ...(load.firstError ? { firstError: load.firstError } : {}),
      seconds: load.seconds,
      requestsPerSecond: load.latenciesMs.length / load.seconds,
      latencyMs: { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! },
      over1s: sorted.filter((ms) => ms > 1000).length,
      over2s: sorted.filter((ms) => ms > 2000).length,
      over3s: sorted.filter((ms) => ms > 3000).length,
      byRead: Object.fromEntries(Object.entries(load.byRead).map(([name, xs]) => [name, { n: xs.length, ...summary(xs) }])),
      byConnection: {
        reused: { n: load.records.filter((r) => r[3] === 1).length, ...summary(load.records.filter((r) => r[3] === 1).map((r) => r[2])) },
        first: { n: load.records.filter((r) => r[3] === 0).length, ...summary(load.records.filter((r) => r[3] === 0).map((r) => r[2])) },
      },
      eventLoopDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
      ...(httpTrace ? { slowest: slowestRequests(load, httpTrace) } : {}),
      ...(trace
        ? {
            trace: {
              statementsPerRequest: trace.statements / load.latenciesMs.length,
              waitMs: summary(trace.waitMs),
              holdMs: summary(trace.holdMs),
              transactions: trace.transactions,
              transactionHoldMs: (({ p50, max }) => ({ p50, max }))(summary(trace.transactionHoldMs)),
            },
          }
        : {}),
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
    };
    console.error(JSON.stringify(result));
    return result;
  } finally {
    await service.close();
    await db.close();
    rmSync(root, { recursive: true, force: true });
  }
}

async function main() {
  const postgresUrl = option("postgres");
  const results: BackendResult[] = [];
  if (!args.includes("--no-pglite")) results.push(await bench("pglite", basePort, undefined));
  if (postgresUrl) {
    const name = `rareforge_bench_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(postgresUrl);
      url.pathname = `/${name}`;
      results.push(await bench("postgresql", basePort + 1, url.toString()));
    } finally {
      // Connections a closed service is still ending get a few seconds; FORCE would fail them with an error.
      for (let waited = 0; waited < 5000; waited += 100) {
        const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
        if (rows[0].n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch((error: Error) => console.error(`could not drop ${name}: ${error.message}`));
      await admin.end();
    }
  }
  const lines = [
    `| backend | mix | clients | requests | p50 | p99 | max | > 1 s | > 2 s | > 3 s | requests/s | event-loop delay max | errors |`,
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.backend} | ${r.mix} | ${r.clients} | ${r.requests} | ${r.latencyMs.p50.toFixed(0)} ms | ${r.latencyMs.p99.toFixed(0)} ms | ${r.latencyMs.max.toFixed(0)} ms | ${r.over1s} | ${r.over2s} | ${r.over3s} | ${r.requestsPerSecond.toFixed(0)} | ${r.eventLoopDelayMs.max.toFixed(0)} ms | ${r.errors} |`,
    ),
  ];
  console.log(lines.join("\n"));
  const record = { date: new Date().toISOString(), ...(label ? { label } : {}), mix, warmup, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, results };
  writeFileSync(path.join(ROOT, "bench/api-latency", outFile), `${JSON.stringify(record, null, 2)}\n`);
  process.exit(0);
}

if (args.includes("--load")) {
  const ids = JSON.parse(option("ids")!) as Ids;
  const apiKey = process.env.RAREFORGE_API_KEY;
  if (!apiKey) throw new Error("the load process needs the service's key in RAREFORGE_API_KEY");
  const result = await runLoad(Number(option("target")), apiKey, ids);
  // The service checks that the load process sent the mix it was asked for.
  Object.assign(result, { mix });
  process.send!(result, () => process.exit(0));
} else {
  await main();
}
