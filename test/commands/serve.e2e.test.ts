// `npm start` stopped the way terminals and supervisors stop it: a signal to the whole process group (npm and
// the server both get it, and npm relays it again) while a generation job runs, then a second signal. The server
// finishes its batch, flushes the embedded database, releases its lock and exits 0 every time.
import { afterEach, describe, expect, it } from "vitest";
import { freePort, killGroup, spawnServer, startRunningJob, stopOutcome, type SpawnedServer } from "../helpers/spawned-server.ts";

let server: SpawnedServer | undefined;

afterEach(() => {
  if (server) killGroup(server.child);
  server?.remove();
  server = undefined;
});

describe("npm start", () => {
  it("SIGINT to the process group during a job, then SIGTERM to the group: clean stop, lock released, exit 0", async () => {
    server = await spawnServer("npm", ["start"], { port: await freePort(), env: { RAREFORGE_ONNX_THREADS: "1" } });
    // a batch long enough to be in flight when the second signal comes 200 ms after the first (at 8 steps a batch of
    // two committed 178 ms after SIGINT on a Zen 5 core, and the server had stopped before SIGTERM: 2026-12-07 CI)
    await startRunningJob(server, { count: 4, batchSize: 2, steps: 40 });
    process.kill(-server.child.pid!, "SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(-server.child.pid!, "SIGTERM");
    const outcome = await stopOutcome(server);
    expect(outcome).toEqual({ exit: { code: 0, signal: null }, stoppedLine: true, lockReleased: true, serverGone: true, portFree: true });
    expect(server.output()).toMatch(/"msg":"already shutting down"/);
  }, 150_000);
});
