// A `rareforge serve` started the way a user starts it (the installed command, `npm start`) in its own process
// group, on its own data directory and port, with what a clean stop leaves behind.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";

export const repositoryRoot = new URL("../..", import.meta.url).pathname;

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dataDir: string;
  /** The node process that holds the data directory (from its lock file), which may be a child of `child`. */
  readonly serverPid: number;
  readonly exited: Promise<ServerExit>;
  output(): string;
  /** Removes the data directory (after the server has gone). */
  remove(): void;
}

/** What a stop left behind: every field true for a clean one. */
export interface StopOutcome {
  exit: ServerExit;
  stoppedLine: boolean;
  lockReleased: boolean;
  serverGone: boolean;
  portFree: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
      .once("error", () => resolve(false))
      .listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** The embedded database's lock (src/db/lock.ts) in its directory under RAREFORGE_DATA_DIR. */
const lockPath = (dataDir: string) => path.join(dataDir, "db", "rareforge.lock");

/**
 * Starts `command args…` (e.g. `npm start`, or node bin/rareforge.mjs serve) as the leader of a new process group
 * and resolves once /health answers and the lock file names the server process.
 */
export async function spawnServer(command: string, args: readonly string[], options: { port: number; env?: NodeJS.ProcessEnv }): Promise<SpawnedServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-serve-"));
  const child = spawn(command, args, {
    cwd: repositoryRoot,
    detached: true,
    env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, PORT: String(options.port), LOG_LEVEL: "info", DATABASE_URL: "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<ServerExit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const started = Date.now();
  for (;;) {
    if (gone) throw new Error(`${command} ${args.join(" ")} exited before serving: ${output}`);
    if (Date.now() - started > 90_000) {
      killGroup(child);
      throw new Error(`${command} ${args.join(" ")} did not answer /health in 90 s: ${output}`);
    }
    const healthy = await fetch(`http://127.0.0.1:${options.port}/health`).then((r) => r.ok, () => false);
    if (healthy && existsSync(lockPath(dataDir))) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const serverPid = (JSON.parse(readFileSync(lockPath(dataDir), "utf8")) as { pid: number }).pid;
  return {
    child,
    port: options.port,
    dataDir,
    serverPid,
    exited,
    output: () => output,
    remove: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** SIGKILL to the whole process group (a test's cleanup): nothing it started outlives the test. */
export function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // the group is already gone
  }
}

/** Waits for the spawned command to exit, then reports what the stop left behind. */
export async function stopOutcome(server: SpawnedServer): Promise<StopOutcome> {
  const exit = await server.exited;
  // the server may be a child of the command that exited; give it a moment to finish
  for (let waited = 0; waited < 15_000 && !processIsGone(server.serverPid); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    exit,
    stoppedLine: /"msg":"RareForge stopped"/.test(server.output()),
    lockReleased: !existsSync(lockPath(server.dataDir)),
    serverGone: processIsGone(server.serverPid),
    portFree: await portIsFree(server.port),
  };
}

/** The admin key a server wrote into its data directory at first start. */
export function adminKeyOf(dataDir: string): string {
  return readFileSync(path.join(dataDir, "secrets", "admin-key"), "utf8").trim();
}

export async function graphql<T = any>(server: { port: number; dataDir: string }, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminKeyOf(server.dataDir)}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(`GraphQL failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * Requests a generation job on a library scenario (the shipped road-hazards model) and resolves with its id once
 * a batch is running, so a signal sent next arrives during a job.
 */
export async function startRunningJob(server: { port: number; dataDir: string }, request: { count: number; batchSize: number; steps: number }): Promise<string> {
  const found = await graphql(server, `{ scenarios(first: 1, text: "deer-crossing-night-fog") { edges { node { id name } } } }`);
  const scenarioId = found.scenarios.edges[0]?.node.id;
  if (!scenarioId) throw new Error("the library scenario deer-crossing-night-fog was not imported");
  const requested = await graphql(
    server,
    `mutation($scenarioId: ID!, $count: Int!, $batchSize: Int!, $steps: Int!) {
      requestGeneration(scenarioId: $scenarioId, count: $count, sampler: DDIM, steps: $steps, guidance: 3, seed: 7, batchSize: $batchSize) {
        __typename ... on MutationRequestGenerationSuccess { data { id } } ... on Error { message }
      }
    }`,
    { scenarioId, ...request },
  );
  const jobId = requested.requestGeneration.data?.id as string | undefined;
  if (!jobId) throw new Error(`requestGeneration failed: ${JSON.stringify(requested.requestGeneration)}`);
  for (let waited = 0; waited < 60_000; waited += 100) {
    const { job } = await graphql(server, `query($id: ID!) { job(id: $id) { ... on QueryJobSuccess { data { status } } } }`, { id: jobId });
    const status = job.data?.status as string | undefined;
    if (status === "RUNNING") return jobId;
    if (status !== "QUEUED") throw new Error(`job ${jobId} is ${status} before the signal`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${jobId} did not start running in 60 s`);
}
