// The installed `rareforge` command: a signal to it stops the server it runs, which frees the port and the
// data directory, and the command's exit status is the server's.
import { afterEach, describe, expect, it } from "vitest";
import { freePort, killGroup, repositoryRoot, spawnServer, stopOutcome, type SpawnedServer } from "../helpers/spawned-server.ts";

let server: SpawnedServer | undefined;

afterEach(() => {
  if (server) killGroup(server.child);
  server?.remove();
  server = undefined;
});

describe("bin/rareforge.mjs", () => {
  it("SIGTERM to the command stops the server cleanly: process gone, port free, lock released, exit 0", async () => {
    server = await spawnServer(process.execPath, [`${repositoryRoot}bin/rareforge.mjs`, "serve"], { port: await freePort(), env: { RAREFORGE_IMPORT_LIBRARY: "false" } });
    server.child.kill("SIGTERM");
    const outcome = await stopOutcome(server);
    expect(outcome).toEqual({ exit: { code: 0, signal: null }, stoppedLine: true, lockReleased: true, serverGone: true, portFree: true });
  }, 120_000);
});
