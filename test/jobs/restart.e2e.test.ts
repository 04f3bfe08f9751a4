// Restart on the embedded database: `rareforge serve` (PGlite, in-process worker) is killed with SIGKILL in
// the middle of a batch and started again on the same data directory. Only one process can ever hold a
// PGlite directory, so the task the dead process held is handed back at start, not after the task expiry
// (900 s here): the job completes with exactly `count` samples and the restart log says it reclaimed it.
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import type { TestService } from "../helpers/service.ts";
import { createTinyScenario, jobTestDirs, REQUEST, spawnRareforge, until, waitForJob, type LoggedProcess } from "./helpers.ts";
import { adminKeyOf } from "../helpers/spawned-server.ts";

const EXPIRE_SECONDS = 900;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const serve = (env: Record<string, string>): LoggedProcess => spawnRareforge(["serve"], env);

describe("restart on the embedded database", () => {
  const servers: LoggedProcess[] = [];
  const dirs = jobTestDirs();

  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
    await Promise.all(servers.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? new Promise((r) => s.child.once("exit", r)) : null)));
    dirs.remove();
  });

  it("a batch held by a killed process is redone at the next start, not after the task expiry", async () => {
    const port = await freePort();
    const env = {
      RAREFORGE_DATA_DIR: dirs.dataDir,
      RAREFORGE_MODELS_DIR: dirs.modelsDir,
      RAREFORGE_IMPORT_LIBRARY: "false",
      RAREFORGE_TASK_EXPIRE_SECONDS: String(EXPIRE_SECONDS),
      RAREFORGE_ONNX_THREADS: "1",
      PORT: String(port),
      LOG_LEVEL: "info",
    };
    const url = `http://127.0.0.1:${port}/graphql`;
    const api = {
      url,
      async graphql(query: string, variables?: Record<string, unknown>) {
        const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${adminKeyOf(dirs.dataDir)}` }, body: JSON.stringify({ query, variables }) });
        return (await response.json()) as { data?: any; errors?: any[] };
      },
    } as unknown as TestService;

    const first = serve(env);
    servers.push(first);
    await until(() => first.lines.some((l) => l.msg === "generation worker started") && first.lines.some((l) => typeof l.url === "string" || /listening/i.test(l.msg ?? "")), "the first server to start");
    const scenarioId = await createTinyScenario(api);
    // 1000 steps make a batch of 8 take about a second on the tiny model: long enough to kill it mid-way
    const requested = await api.graphql(REQUEST, { scenarioId, count: 16, batchSize: 8, sampler: "DDIM", steps: 1000, guidance: 3, seed: 5 });
    const job = requested.data!.requestGeneration.data;
    await until(() => first.lines.some((l) => l.event === "batch-started"), "a batch to start");
    const task = first.lines.find((l) => l.event === "batch-started");
    expect(first.lines.some((l) => l.event === "batch-committed" && l.start === task.start)).toBe(false);
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));

    const restartedAt = Date.now();
    const second = serve(env);
    servers.push(second);
    await until(() => second.lines.some((l) => l.event === "tasks-reclaimed"), "the restarted server to reclaim the dead process's task");
    expect(second.lines.find((l) => l.event === "tasks-reclaimed")).toMatchObject({ tasks: 1 });
    await until(() => second.lines.some((l) => typeof l.url === "string" || /listening/i.test(l.msg ?? "")), "the second server to listen");
    // well inside the 900 s expiry: the reclaimed batch runs again now
    const finished = await waitForJob(api, job.id, (j) => !["QUEUED", "RUNNING"].includes(j.status), 60_000);
    expect(finished).toMatchObject({ status: "SUCCEEDED", completedCount: 16, failedCount: 0 });
    const redone = second.lines.filter((l) => l.event === "batch-started" && l.start === task.start);
    expect(redone).toHaveLength(1);
    expect(redone[0].attempt).toBeGreaterThan(0);
    const seconds = (time: string | number) => ((typeof time === "number" ? time : Date.parse(time)) - restartedAt) / 1000;
    console.info(`restart: tasks reclaimed ${seconds(second.lines.find((l) => l.event === "tasks-reclaimed").time)} s after the process started, reclaimed batch started at ${seconds(redone[0].time)} s`);
  }, 120_000);
});
