// The embedded database belongs to one process: a second `rareforge serve` on the same data directory
// exits non-zero naming the holder, and the first keeps serving with all its data.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adminKeyOf } from "../helpers/spawned-server.ts";

const root = new URL("../..", import.meta.url).pathname;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-lock-"));
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function serve(port: number) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], {
    cwd: root,
    env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "info", DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const serving = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes("RareForge is serving GraphQL")) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`serve exited with ${code}: ${output}`));
    });
  });
  serving.catch(() => {});
  return { child, exited, serving, output: () => output };
}

async function graphql(port: number, query: string, variables?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminKeyOf(dataDir)}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: any };
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("embedded database lock", () => {
  it("refuses a second server on the same data directory; the first keeps working and its data survives a restart", async () => {
    const port = await freePort();
    const first = serve(port);
    await first.serving;
    const count = `{ scenarios(first: 1) { totalCount } }`;
    const libraryCount = (await graphql(port, count)).data.scenarios.totalCount;
    expect(libraryCount).toBeGreaterThan(0);
    const yaml = `name: lock-test-scenario\ndomain: medical\nmodel: brain-mri\nparameters: { pathology: none, lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.05, lesionContrast: 0.5 }\n`;
    await graphql(port, `mutation($y: String!) { importScenarios(yaml: $y) { __typename } }`, { y: yaml });

    const second = serve(await freePort());
    const code = await second.exited;
    expect(code).not.toBe(0);
    expect(second.output()).toMatch(new RegExp(`in use by process ${first.child.pid}`));

    expect((await graphql(port, count)).data.scenarios.totalCount).toBe(libraryCount + 1);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const restarted = serve(port);
    await restarted.serving;
    expect((await graphql(port, count)).data.scenarios.totalCount).toBe(libraryCount + 1);
    restarted.child.kill("SIGTERM");
    expect(await restarted.exited).toBe(0);
  }, 90_000);
});
