// Shared set-up for the job tests: a models directory holding the tiny test model, a temporary data
// directory (artifact store), the tiny scenario, and GraphQL documents.
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import type { TestService } from "../helpers/service.ts";
import { subscriptionEvents } from "../../src/commands/service-client.ts";


const TINY_MODEL = new URL("../fixtures/tiny-model/", import.meta.url).pathname;

export interface JobTestDirs {
  modelsDir: string;
  dataDir: string;
  remove(): void;
}

export function jobTestDirs(): JobTestDirs {
  const root = mkdtempSync(path.join(os.tmpdir(), "rareforge-jobs-"));
  const modelsDir = path.join(root, "models");
  cpSync(path.join(TINY_MODEL, "model.json"), path.join(modelsDir, "tiny-model", "model.json"), { recursive: true });
  cpSync(path.join(TINY_MODEL, "denoiser.onnx"), path.join(modelsDir, "tiny-model", "denoiser.onnx"));
  return { modelsDir, dataDir: path.join(root, "data"), remove: () => rmSync(root, { recursive: true, force: true }) };
}

export const TINY_SCENARIO_YAML = readFileSync(path.join(TINY_MODEL, "scenarios", "tiny-pedestrian-fog.yaml"), "utf8");

export async function createTinyScenario(api: TestService, name = "tiny-pedestrian-fog"): Promise<string> {
  const yaml = TINY_SCENARIO_YAML.replace(/^name: .*$/m, `name: ${name}`);
  const imported = await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on Error { message } } }`, { yaml });
  if (imported.data?.importScenarios.__typename !== "MutationImportScenariosSuccess") throw new Error(JSON.stringify(imported));
  const found = await api.graphql(`query($text: String) { scenarios(first: 5, text: $text) { edges { node { id name } } } }`, { text: name });
  const node = found.data?.scenarios.edges.find((e: { node: { name: string } }) => e.node.name === name)?.node;
  if (!node) throw new Error(`scenario ${name} not found after import`);
  return node.id as string;
}

export const REQUEST = /* GraphQL */ `
  mutation Request($scenarioId: ID!, $count: Int!, $sampler: Sampler, $steps: Int, $guidance: Float, $seed: Int!, $batchSize: Int!, $ep: String) {
    requestGeneration(scenarioId: $scenarioId, count: $count, sampler: $sampler, steps: $steps, guidance: $guidance, seed: $seed, batchSize: $batchSize, executionProvider: $ep) {
      __typename
      ... on MutationRequestGenerationSuccess { data { id uuid status count taskCount } }
      ... on Error { message }
      ... on ValidationError { issues { path message } }
      ... on ExecutionProviderUnavailableError { requested available }
    }
  }
`;

export const JOB = /* GraphQL */ `
  query Job($id: ID!) { job(id: $id) { __typename ... on QueryJobSuccess { data { id status count completedCount failedCount error startedAt finishedAt } } } }
`;

export async function waitForJob(api: TestService, id: string, until: (job: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await api.graphql(JOB, { id })).data?.job.data;
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not reach the expected state: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a GraphQL subscription over SSE (graphql-yoga's distinct-connections mode), as the admin key, until it ends. */
export async function subscribeSse(api: TestService, query: string, variables: Record<string, unknown>, onEvent: (payload: any) => void): Promise<void> {
  const key = { secret: api.adminKey, source: "the test service's admin key" };
  for await (const payload of subscriptionEvents(`${api.service.url}/graphql`, key, query, variables)) onEvent(payload);
}

/** A `rareforge` process started from the repository (`node --import tsx src/cli.ts ...`) whose JSON log lines are collected. */
export interface LoggedProcess {
  child: ChildProcess;
  lines: any[];
}

export function spawnRareforge(args: string[], env: Record<string, string>): LoggedProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { cwd: new URL("../../", import.meta.url).pathname, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logged: LoggedProcess = { child, lines: [] };
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        logged.lines.push(JSON.parse(line));
      } catch {
        /* not a log line */
      }
    }
  });
  return logged;
}

/** Polls until the condition holds; throws naming what it waited for. */
export async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
