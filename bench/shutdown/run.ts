// Signalled stops of `npm start`: each run starts the server on a fresh data directory (library imported, the
// shipped road-hazards model), optionally starts a generation job and waits until a batch is running, sends the
// run's signals, and records whether the stop was clean (the "RareForge stopped" line, lock released, server
// process gone, port free, exit 0) and how long it took from the first signal to npm's exit.
//
//   node --import tsx bench/shutdown/run.ts [--port-base 4610] [--out bench/shutdown/results.json]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { spawnServer, startRunningJob, stopOutcome, killGroup, type SpawnedServer, type StopOutcome } from "../../test/helpers/spawned-server.ts";

type Target = "npm" | "group" | "server";
interface Stop {
  name: string;
  duringJob: boolean;
  signals: { target: Target; signal: NodeJS.Signals }[];
}

const stops: Stop[] = [
  { name: "SIGTERM to npm", duringJob: false, signals: [{ target: "npm", signal: "SIGTERM" }] },
  { name: "SIGINT to npm", duringJob: false, signals: [{ target: "npm", signal: "SIGINT" }] },
  { name: "SIGTERM to the group", duringJob: false, signals: [{ target: "group", signal: "SIGTERM" }] },
  { name: "SIGINT to the group (Ctrl-C)", duringJob: false, signals: [{ target: "group", signal: "SIGINT" }] },
  { name: "SIGTERM to the server process", duringJob: false, signals: [{ target: "server", signal: "SIGTERM" }] },
  { name: "SIGTERM to the group during a job", duringJob: true, signals: [{ target: "group", signal: "SIGTERM" }] },
  { name: "SIGINT to the group during a job", duringJob: true, signals: [{ target: "group", signal: "SIGINT" }] },
  { name: "SIGINT then SIGTERM to the group during a job", duringJob: true, signals: [{ target: "group", signal: "SIGINT" }, { target: "group", signal: "SIGTERM" }] },
  { name: "SIGINT twice to the group during a job", duringJob: true, signals: [{ target: "group", signal: "SIGINT" }, { target: "group", signal: "SIGINT" }] },
  { name: "SIGTERM to npm during a job", duringJob: true, signals: [{ target: "npm", signal: "SIGTERM" }] },
];

// README's example job shape: batches of 8 at 20 DDIM steps, so a stop waits for a batch of several seconds
const JOB = { count: 16, batchSize: 8, steps: 20 };

function send(server: SpawnedServer, target: Target, signal: NodeJS.Signals): void {
  if (target === "group") process.kill(-server.child.pid!, signal);
  else process.kill(target === "npm" ? server.child.pid! : server.serverPid, signal);
}

async function measure(stop: Stop, port: number): Promise<StopOutcome & { name: string; clean: boolean; stopSeconds: number }> {
  const server = await spawnServer("npm", ["start"], { port });
  try {
    if (stop.duringJob) await startRunningJob(server, JOB);
    const signalled = performance.now();
    for (const [k, { target, signal }] of stop.signals.entries()) {
      if (k > 0) await new Promise((resolve) => setTimeout(resolve, 300));
      send(server, target, signal);
    }
    const outcome = await stopOutcome(server);
    const stopSeconds = (performance.now() - signalled) / 1000;
    const clean = outcome.exit.code === 0 && outcome.stoppedLine && outcome.lockReleased && outcome.serverGone && outcome.portFree;
    return { name: stop.name, clean, stopSeconds, ...outcome };
  } finally {
    killGroup(server.child);
    server.remove();
  }
}

const { values } = parseArgs({ options: { "port-base": { type: "string", default: "4610" }, out: { type: "string", default: "bench/shutdown/results.json" } } });
const results = [];
for (const [k, stop] of stops.entries()) {
  const result = await measure(stop, Number(values["port-base"]) + k);
  results.push(result);
  console.log(`${result.clean ? "clean  " : "UNCLEAN"} ${result.stopSeconds.toFixed(1).padStart(5)} s  ${stop.name}  ${JSON.stringify({ exit: result.exit, stoppedLine: result.stoppedLine, lockReleased: result.lockReleased, serverGone: result.serverGone, portFree: result.portFree })}`);
}
const clean = results.filter((r) => r.clean).length;
console.log(`${clean} of ${results.length} stops clean`);
writeFileSync(values.out!, `${JSON.stringify({ date: new Date().toISOString(), node: process.versions.node, job: JOB, clean, stops: results }, null, 2)}\n`);
process.exitCode = clean === results.length ? 0 : 1;
