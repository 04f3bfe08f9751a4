// bench/responsiveness: does the service stay responsive (GET /health under 100 ms) while hostile inputs are
// submitted? Issue 18's acceptance: a FIFO, a 2 GB file, a 20000×20000 PNG and a 100,000-frame DICOM.
//
//   node --import tsx bench/responsiveness/run.ts [--port 4760] [--seconds 20] [--isolate-seconds 10]
//        [--isolate] [--max-per-kind 2000] [--no-pause] [--label NAME] [--out results.json]
//
// The service is the real one (src/app.ts startService: in-process worker and queue, the scenario library
// imported) on a temporary RAREFORGE_DATA_DIR with embedded PGlite, listening on 127.0.0.1:--port; it runs in
// this process, so process.memoryUsage() here is the service's. Two child processes talk to it over loopback
// (GraphQL requests send the admin key the service made at its first start; /health needs none):
//
// - a poller that sends GET /health every 10 ms (one keep-alive connection, the next request 10 ms after the
//   previous one started or as soon as it answered, whichever is later) and records every latency;
// - a submitter that, for a bounded time and at most --max-per-kind times per kind, sends these concurrently
//   (one stream per kind, each request after the previous answered), checking every answer is the expected
//   typed refusal (any other answer fails the run):
//     a  registerDetector on a FIFO inside the detectors directory            -> DetectorUnusableError not-found
//     b  registerDetector on a sparse 2 GiB file inside it                     -> DetectorUnusableError too-large
//     c  registerDetector on /dev/zero and on a FIFO outside it (alternately) -> DetectorUnusableError not-found
//     d  uploadReferenceScan (multipart) of a PNG whose IHDR says 20000×20000   -> UploadRefusedError IMAGE_REFUSED
//     e  uploadReferenceScan of an RLE DICOM declaring 100,000 frames, 1 fragment -> UploadRefusedError DICOM_REFUSED
//     f  insertPathology with a mask PNG declaring 20000×20000 on a stored scan -> InsertionRefusedError REGION
//        (the scan is ../shared/data/dicom/MR_small.dcm, uploaded at setup; (f) is skipped when it is absent)
//
// Phases, in one run: "baseline" (the poller alone, --seconds), "hostile" (the poller and every kind at once,
// --seconds). When the hostile phase's health max is over 100 ms (or with --isolate), each kind is then run
// alone with the poller for --isolate-seconds, to name the submission that stalls the service.
//
// Background trainings (`/usr/bin/python3 training/…`) are paused (SIGSTOP) for the run and always resumed
// (SIGCONT), unless --no-pause. Results: a markdown table on stdout and bench/responsiveness/--out.
import { fork, spawnSync } from "node:child_process";
import { readFileSync, rmSync, truncateSync, writeFileSync, existsSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { buildRleDicom, rleFrame } from "../../test/imaging/helpers/build-dicom.ts";
import { pngDeclaring } from "../../test/imaging/helpers/forged-images.ts";
import { startBenchService } from "../service.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SHARED_MR_SMALL = path.join(ROOT, "../shared/data/dicom/MR_small.dcm");
const HEALTH_LIMIT_MS = 100;

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const port = Number(option("port") ?? 4760);
const seconds = Number(option("seconds") ?? 20);
const isolateSeconds = Number(option("isolate-seconds") ?? 10);
const maxPerKind = Number(option("max-per-kind") ?? 2000);
const outFile = option("out") ?? "results.json";
const label = option("label");
if (path.basename(outFile) !== outFile || !outFile.endsWith(".json")) throw new Error(`--out ${outFile}: give a .json file name in bench/responsiveness`);

type Kind = "a" | "b" | "c" | "d" | "e" | "f";
const KIND_NAMES: Record<Kind, string> = {
  a: "registerDetector: FIFO inside the detectors dir",
  b: "registerDetector: sparse 2 GiB file inside it",
  c: "registerDetector: /dev/zero, FIFO outside the dir",
  d: "uploadReferenceScan: PNG declaring 20000×20000",
  e: "uploadReferenceScan: DICOM declaring 100,000 frames",
  f: "insertPathology: mask PNG declaring 20000×20000",
};

/** What the submitter needs to build its requests. */
interface Targets {
  port: number;
  fifoInside: string;
  hugeInside: string;
  outside: string[];
  scanId: string | null;
}

interface KindResult {
  sent: number;
  refusedAsExpected: number;
  unexpected: number;
  firstUnexpected?: string;
  latencyMs: Summary;
}

interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const summary = (xs: number[]): Summary => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? { n: 0, p50: 0, p99: 0, max: 0 } : { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! };
};

// ---------------------------------------------------------------------------------------------------------
// Poller process: GET /health every 10 ms for `ms`, latencies back over IPC.

interface PollResult {
  latenciesMs: number[];
  /** [start (ms since the poller began), latency (ms)] of each request over 100 ms. */
  slow: Array<[number, number]>;
  errors: number;
  firstError?: string;
}

async function poll(target: number, ms: number): Promise<PollResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latenciesMs: number[] = [];
  const slow: PollResult["slow"] = [];
  let errors = 0;
  let firstError: string | undefined;
  const began = performance.now();
  while (performance.now() - began < ms) {
    const t0 = performance.now();
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: target, path: "/health", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      });
      const latency = performance.now() - t0;
      latenciesMs.push(latency);
      if (latency > HEALTH_LIMIT_MS) slow.push([t0 - began, latency]);
      if (status !== 200) {
        errors++;
        firstError ??= `status ${status}`;
      }
    } catch (error) {
      errors++;
      firstError ??= (error as Error).message;
    }
    const wait = t0 + 10 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  agent.destroy();
  return { latenciesMs, slow, errors, ...(firstError ? { firstError } : {}) };
}

// ---------------------------------------------------------------------------------------------------------
// Submitter process: one stream per kind, each request after the previous one answered.

const NOT_USABLE = (given: string) => `no usable detector file "${given}" in the detectors directory (RAREFORGE_DETECTORS_DIR): give the path of a regular ONNX file inside it`;
const REGISTER = `mutation ($p: String!) { registerDetector(path: $p, classes: ["animal"]) { __typename ... on DetectorUnusableError { code message } } }`;
const UPLOAD = `mutation ($file: File!) { uploadReferenceScan(file: $file) { __typename ... on UploadRefusedError { code dicomCode message } } }`;
const INSERT = `mutation ($scan: ID!, $mask: File) { insertPathology(referenceScanId: $scan, mask: $mask, parameters: { pathology: "lesions" }, sampler: DDIM, steps: 6, guidance: 3, seed: 1) { __typename ... on InsertionRefusedError { code message } } }`;

interface Submission {
  body: () => { init: RequestInit };
  /** null when the answer is the expected refusal, else what was wrong. */
  check: (result: Record<string, any>) => string | null;
  field: string;
}

const expectFields = (expected: Record<string, unknown>) => (result: Record<string, any>) => {
  for (const [key, value] of Object.entries(expected)) {
    const actual = result[key];
    const ok = value instanceof RegExp ? typeof actual === "string" && value.test(actual) : actual === value;
    if (!ok) return `${key}: expected ${String(value)}, got ${JSON.stringify(actual)}`;
  }
  return null;
};

function jsonRequest(apiKey: string, query: string, variables: Record<string, unknown>): { init: RequestInit } {
  return { init: { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ query, variables }) } };
}

function multipartRequest(apiKey: string, query: string, variables: Record<string, unknown>, fileVariable: string, bytes: Uint8Array, name: string): { init: RequestInit } {
  const form = new FormData();
  form.set("operations", JSON.stringify({ query, variables: { ...variables, [fileVariable]: null } }));
  form.set("map", JSON.stringify({ 0: [`variables.${fileVariable}`] }));
  form.set("0", new Blob([Buffer.from(bytes)]), name);
  return { init: { method: "POST", body: form, headers: { "apollo-require-preflight": "true", authorization: `Bearer ${apiKey}` } } };
}

function submissions(targets: Targets, apiKey: string): Partial<Record<Kind, Submission>> {
  const png = pngDeclaring(20000, 20000);
  const dicom = buildRleDicom({ numberOfFrames: 100_000, fragments: [rleFrame([0, 64, 128, 255])], offsets: [0] });
  let outsideTurn = 0;
  const register = (given: () => string, code: string): Submission => {
    let last = "";
    return {
      field: "registerDetector",
      body: () => jsonRequest(apiKey, REGISTER, { p: (last = given()) }),
      check: (result) => expectFields({ __typename: "DetectorUnusableError", code, ...(code === "not-found" ? { message: NOT_USABLE(last) } : { message: /has 2147483648 bytes; the limit for a detector file is 536870912 \(RAREFORGE_MAX_DETECTOR_BYTES\)$/ }) })(result),
    };
  };
  const all: Partial<Record<Kind, Submission>> = {
    a: register(() => path.basename(targets.fifoInside), "not-found"),
    b: register(() => targets.hugeInside, "too-large"),
    c: register(() => targets.outside[outsideTurn++ % targets.outside.length]!, "not-found"),
    d: {
      field: "uploadReferenceScan",
      body: () => multipartRequest(apiKey, UPLOAD, {}, "file", png, "scan.png"),
      check: expectFields({ __typename: "UploadRefusedError", code: "IMAGE_REFUSED", message: "uploaded PNG is 20000x20000 (400000000 pixels); the limit is 40000000 pixels (RAREFORGE_MAX_IMAGE_PIXELS)" }),
    },
    e: {
      field: "uploadReferenceScan",
      body: () => multipartRequest(apiKey, UPLOAD, {}, "file", dicom, "scan.dcm"),
      check: expectFields({ __typename: "UploadRefusedError", code: "DICOM_REFUSED", dicomCode: "INVALID_VALUE", message: /Number of Frames \(0028,0008\) is 100000/ }),
    },
  };
  if (targets.scanId) {
    all.f = {
      field: "insertPathology",
      body: () => multipartRequest(apiKey, INSERT, { scan: targets.scanId }, "mask", png, "mask.png"),
      check: expectFields({ __typename: "InsertionRefusedError", code: "REGION", message: "region mask is 20000x20000 (400000000 pixels); the limit is 40000000 pixels (RAREFORGE_MAX_IMAGE_PIXELS)" }),
    };
  }
  return all;
}

async function submit(targets: Targets, apiKey: string, kinds: Kind[], ms: number): Promise<Partial<Record<Kind, KindResult>>> {
  const all = submissions(targets, apiKey);
  const url = `http://127.0.0.1:${targets.port}/graphql`;
  const began = performance.now();
  const results: Partial<Record<Kind, KindResult>> = {};
  await Promise.all(
    kinds.map(async (kind) => {
      const submission = all[kind];
      if (!submission) return;
      const latencies: number[] = [];
      const result: KindResult = { sent: 0, refusedAsExpected: 0, unexpected: 0, latencyMs: summary([]) };
      results[kind] = result;
      while (performance.now() - began < ms && result.sent < maxPerKind) {
        const { init } = submission.body();
        const t0 = performance.now();
        result.sent++;
        let problem: string | null;
        try {
          const response = await fetch(url, init);
          const text = await response.text();
          latencies.push(performance.now() - t0);
          let body: { data?: Record<string, Record<string, any>>; errors?: unknown };
          try {
            body = JSON.parse(text);
          } catch {
            body = {};
          }
          const answer = body.data?.[submission.field];
          problem = response.status !== 200 || body.errors || !answer ? `status ${response.status}: ${text.slice(0, 300)}` : submission.check(answer);
        } catch (error) {
          problem = `request failed: ${(error as Error).message}`;
        }
        if (problem === null) result.refusedAsExpected++;
        else {
          result.unexpected++;
          result.firstUnexpected ??= problem;
        }
      }
      result.latencyMs = summary(latencies);
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// Service process.

interface PhaseResult {
  phase: string;
  kinds: Kind[];
  seconds: number;
  health: Summary & { over100ms: number; errors: number; firstError?: string; slowest: Array<[number, number]> };
  eventLoopDelayMs: { p99: number; max: number };
  rssMiB: { before: number; after: number; peak: number };
  submissions: Partial<Record<Kind, KindResult>>;
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

function child<T>(role: string, payload: unknown, apiKey: string): { done: Promise<T> } {
  const done = new Promise<T>((resolve, reject) => {
    const proc = fork(new URL(import.meta.url).pathname, ["--role", role, "--payload", JSON.stringify(payload), "--max-per-kind", String(maxPerKind)], {
      execArgv: ["--import", "tsx"],
      // the key travels in the environment, not on a command line others can read
      env: { ...process.env, RAREFORGE_API_KEY: apiKey },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    proc.once("message", (m) => resolve(m as T));
    proc.once("exit", (code) => code !== 0 && reject(new Error(`${role} process exited ${code}`)));
  });
  return { done };
}

async function phase(name: string, kinds: Kind[], phaseSeconds: number, targets: Targets, apiKey: string): Promise<PhaseResult> {
  const ms = phaseSeconds * 1000;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  // the poller starts first and runs a little longer, so every submission falls inside its window
  const poller = child<PollResult>("poll", { port: targets.port, ms: ms + 500 }, apiKey);
  await new Promise((resolve) => setTimeout(resolve, 250));
  delay.enable();
  const submitter = kinds.length > 0 ? child<Partial<Record<Kind, KindResult>>>("submit", { targets, kinds, ms }, apiKey) : undefined;
  const [health, submitted] = await Promise.all([poller.done, submitter?.done ?? Promise.resolve<Partial<Record<Kind, KindResult>>>({})]);
  delay.disable();
  clearInterval(sampler);
  const after = process.memoryUsage().rss;
  const h = summary(health.latenciesMs);
  const result: PhaseResult = {
    phase: name,
    kinds,
    seconds: phaseSeconds,
    health: { ...h, over100ms: health.slow.length, errors: health.errors, ...(health.firstError ? { firstError: health.firstError } : {}), slowest: [...health.slow].sort((x, y) => y[1] - x[1]).slice(0, 10) },
    eventLoopDelayMs: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    rssMiB: { before: mib(before), after: mib(after), peak: mib(Math.max(peak, after)) },
    submissions: submitted,
  };
  console.error(`${name}: health p50 ${h.p50.toFixed(1)} p99 ${h.p99.toFixed(1)} max ${h.max.toFixed(1)} ms, ${health.slow.length} over 100 ms, ${JSON.stringify(Object.fromEntries((Object.entries(submitted) as [Kind, KindResult][]).map(([k, r]) => [k, `${r.sent} sent, ${r.unexpected} unexpected, p50 ${r.latencyMs.p50.toFixed(1)} max ${r.latencyMs.max.toFixed(1)} ms`])))}`);
  return result;
}

/** Background trainings, paused for the measured run. */
function trainings(): number[] {
  const found = spawnSync("pgrep", ["-f", "^/usr/bin/python3 training/"], { encoding: "utf8" });
  return found.stdout.split(/\s+/).filter(Boolean).map(Number).filter((pid) => pid !== process.pid);
}

function signalAll(pids: number[], signal: NodeJS.Signals) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

async function main() {
  const loadAverageAtStart = os.loadavg().map((x) => Number(x.toFixed(2)));
  const paused = args.includes("--no-pause") ? [] : trainings();
  const resume = () => signalAll(paused, "SIGCONT");
  process.on("exit", resume);
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      resume();
      process.exit(130);
    });
  signalAll(paused, "SIGSTOP");
  if (paused.length > 0) console.error(`paused trainings ${paused.join(", ")} for the run`);

  const { root, config, db, service, adminKey } = await startBenchService({ port, name: "responsiveness" });
  const phases: PhaseResult[] = [];
  let failed: string[] = [];
  let record: Record<string, unknown> = {};
  try {
    // the hostile files: in the detectors directory (made at start) and outside it
    const fifoInside = path.join(config.detectorsDir, "fifo.onnx");
    const fifoOutside = path.join(root, "outside.fifo");
    for (const fifo of [fifoInside, fifoOutside]) if (spawnSync("mkfifo", [fifo]).status !== 0) throw new Error(`mkfifo ${fifo} failed`);
    const hugeInside = path.join(config.detectorsDir, "huge.onnx");
    writeFileSync(hugeInside, "");
    truncateSync(hugeInside, 2 ** 31);

    // a stored DICOM scan for insertPathology (f)
    let scanId: string | null = null;
    if (existsSync(SHARED_MR_SMALL)) {
      const { init } = multipartRequest(adminKey, `mutation ($file: File!) { uploadReferenceScan(file: $file) { __typename ... on MutationUploadReferenceScanSuccess { data { id } } ... on UploadRefusedError { message } } }`, {}, "file", readFileSync(SHARED_MR_SMALL), "MR_small.dcm");
      const body = (await (await fetch(`${service.url}/graphql`, init)).json()) as { data?: { uploadReferenceScan: { __typename: string; data?: { id: string }; message?: string } } };
      const uploaded = body.data?.uploadReferenceScan;
      if (uploaded?.__typename !== "MutationUploadReferenceScanSuccess") throw new Error(`uploading MR_small.dcm for (f) failed: ${JSON.stringify(body)}`);
      scanId = uploaded.data!.id;
    } else {
      console.error(`(f) skipped: ${SHARED_MR_SMALL} is absent (no real DICOM scan to insert into)`);
    }
    const targets: Targets = { port, fifoInside, hugeInside, outside: ["/dev/zero", fifoOutside], scanId };
    const kinds = (Object.keys(KIND_NAMES) as Kind[]).filter((k) => k !== "f" || scanId);

    const rssBefore = process.memoryUsage().rss;
    phases.push(await phase("baseline", [], seconds, targets, adminKey));
    const hostile = await phase("hostile", kinds, seconds, targets, adminKey);
    phases.push(hostile);
    if (args.includes("--isolate") || hostile.health.max > HEALTH_LIMIT_MS) {
      for (const kind of kinds) phases.push(await phase(`only ${kind}`, [kind], isolateSeconds, targets, adminKey));
    }
    const rssAfter = process.memoryUsage().rss;

    for (const p of phases)
      for (const [kind, r] of Object.entries(p.submissions)) if (r!.unexpected > 0) failed.push(`${p.phase} ${kind} (${KIND_NAMES[kind as Kind]}): ${r!.unexpected} of ${r!.sent} not the expected refusal; first: ${r!.firstUnexpected}`);
    for (const p of phases) if (p.health.errors > 0) failed.push(`${p.phase}: ${p.health.errors} health requests failed; first: ${p.health.firstError}`);
    for (const p of phases) for (const kind of p.kinds) if (!p.submissions[kind] || p.submissions[kind]!.sent === 0) failed.push(`${p.phase} ${kind}: nothing submitted`);

    const cpus = os.cpus();
    record = {
      date: new Date().toISOString(),
      ...(label ? { label } : {}),
      command: `node --import tsx bench/responsiveness/run.ts ${args.join(" ")}`.trim(),
      node: process.versions.node,
      machine: { nproc: os.availableParallelism(), cpuModel: cpus[0]?.model, loadAverageAtStart, pausedTrainings: paused.length },
      seconds,
      isolateSeconds,
      maxPerKind,
      kinds: Object.fromEntries(kinds.map((k) => [k, KIND_NAMES[k]])),
      ...(scanId ? {} : { skipped: { f: `${SHARED_MR_SMALL} absent` } }),
      rssMiB: { before: mib(rssBefore), after: mib(rssAfter) },
      healthUnder100msHeld: phases.filter((p) => p.kinds.length > 0).every((p) => p.health.max < HEALTH_LIMIT_MS),
      failed,
      phases,
    };
  } finally {
    await service.close();
    await db.close();
    rmSync(root, { recursive: true, force: true });
    resume();
  }

  const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
  const allKinds = Object.keys(KIND_NAMES) as Kind[];
  const lines = [
    `| phase | health requests | p50 | p99 | max | > 100 ms | event-loop delay max | ${allKinds.join(" | ")} | RSS before → after (peak) |`,
    `|---|---|---|---|---|---|---|${allKinds.map(() => "---|").join("")}---|`,
    ...phases.map((p) => {
      const counts = allKinds.map((k) => (p.submissions[k] ? `${p.submissions[k]!.sent}` : "–"));
      return `| ${p.phase} | ${p.health.n} | ${fmt(p.health.p50)} | ${fmt(p.health.p99)} | ${fmt(p.health.max)} | ${p.health.over100ms} | ${fmt(p.eventLoopDelayMs.max)} | ${counts.join(" | ")} | ${p.rssMiB.before} → ${p.rssMiB.after} (${p.rssMiB.peak}) MiB |`;
    }),
    "",
    `| kind | submission | sent (hostile) | refused as expected | latency p50 | latency max |`,
    `|---|---|---|---|---|---|`,
    ...allKinds.map((k) => {
      const r = phases.find((p) => p.phase === "hostile")?.submissions[k];
      return r ? `| ${k} | ${KIND_NAMES[k]} | ${r.sent} | ${r.refusedAsExpected} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.max)} |` : `| ${k} | ${KIND_NAMES[k]} | skipped | – | – | – |`;
    }),
  ];
  console.log(lines.join("\n"));
  const rss = record.rssMiB as { before: number; after: number } | undefined;
  if (rss) console.log(`\nservice RSS ${rss.before} MiB before the phases, ${rss.after} MiB after; health < 100 ms under hostile input: ${record.healthUnder100msHeld ? "held" : "NOT held"}`);
  writeFileSync(path.join(ROOT, "bench/responsiveness", outFile), `${JSON.stringify(record, null, 2)}\n`);
  if (failed.length > 0) {
    console.error(`\nFAILED: responses that were not the expected refusal:\n${failed.join("\n")}`);
    process.exit(1);
  }
  process.exit(0);
}

const role = option("role");
if (role === "poll") {
  const { port: target, ms } = JSON.parse(option("payload")!) as { port: number; ms: number };
  const result = await poll(target, ms);
  process.send!(result, () => process.exit(0));
} else if (role === "submit") {
  const { targets, kinds, ms } = JSON.parse(option("payload")!) as { targets: Targets; kinds: Kind[]; ms: number };
  const apiKey = process.env.RAREFORGE_API_KEY;
  if (!apiKey) throw new Error("the submitter needs the service's key in RAREFORGE_API_KEY");
  const result = await submit(targets, apiKey, kinds, ms);
  process.send!(result, () => process.exit(0));
} else {
  await main();
}
