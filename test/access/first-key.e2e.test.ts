// First start: `npm start` on a fresh data directory prints an admin key once and writes it to secrets/admin-key
// (mode 0600, in a 0700 directory); the README's first query works with it; a later start prints no key.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startService } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/index.ts";
import { createLogger } from "../../src/logger.ts";
import { freePort, killGroup, repositoryRoot, spawnServer, stopOutcome, type SpawnedServer } from "../helpers/spawned-server.ts";

const KEY = /rf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/g;
let server: SpawnedServer | undefined;

afterEach(() => {
  if (server) killGroup(server.child);
  server?.remove();
  server = undefined;
});

describe("the first admin key", () => {
  it("npm start prints it once, keeps it owner-only in secrets/, and the README's first query works with it", async () => {
    server = await spawnServer("npm", ["start"], { port: await freePort() });
    const printed = [...server.output().matchAll(KEY)].map((m) => m[0]);
    expect(printed).toHaveLength(1);
    const file = path.join(server.dataDir, "secrets", "admin-key");
    expect(readFileSync(file, "utf8").trim()).toBe(printed[0]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);

    const readme = readFileSync(path.join(repositoryRoot, "README.md"), "utf8");
    const firstQuery = /### A first query[\s\S]*?```graphql\n([\s\S]*?)```/.exec(readme)![1]!;
    const ask = (authorization?: string) =>
      fetch(`http://127.0.0.1:${server!.port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ query: firstQuery }),
      });
    expect((await ask()).status).toBe(401);
    const answer = (await (await ask(`Bearer ${printed[0]}`)).json()) as { data?: { scenarios: { totalCount: number } }; errors?: unknown };
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.scenarios.totalCount).toBeGreaterThan(5);

    process.kill(-server.child.pid!, "SIGTERM");
    expect((await stopOutcome(server)).exit.code).toBe(0);
  }, 150_000);

  it("is made only while no key exists: a second start prints none", async () => {
    const db = await openDatabase({ kind: "pglite" });
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-first-key-"));
    const announced: string[] = [];
    const config = loadConfig(process.env, { dataDir, port: 0, host: "127.0.0.1", logLevel: "silent", importLibraryOnStart: false, runWorker: false });
    try {
      for (let start = 0; start < 2; start++) {
        const service = await startService(config, { db, logger: createLogger("silent"), announce: (key) => announced.push(key) });
        await service.close();
      }
      expect(announced).toHaveLength(1);
      expect(await db.prisma.apiKey.count()).toBe(1);
    } finally {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
