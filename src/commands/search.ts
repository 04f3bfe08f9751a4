// `rareforge search`: starts a failure search on a running service and follows it over the searchProgress
// subscription (SSE), printing each iteration's failure rate; at the end, the overall failure rate with its
// interval, the nominal failure rate under the scenario's own distribution, and the derived scenario the
// cross-entropy method exported.
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { parseSampler, samplerConstantName } from "../diffusion/index.ts";
import { SEARCH_DEFAULTS } from "../search/index.ts";
import { resolveDetector, resolveScenario, unwrap } from "./report.ts";
import { loadConfig } from "../config.ts";
import { CommandInputError, graphqlClient, resolveServiceKey, subscriptionEvents, withServiceOptions, type ServiceKey } from "./service-client.ts";

export interface SearchCommandOptions {
  url: string;
  apiKey: ServiceKey;
  scenario: string;
  detector: string;
  budget: number;
  method: string;
  batch?: number;
  seed?: number;
  steps?: number;
  sampler?: string;
  guidance?: number;
  /** CEM: fraction of each iteration kept as the elite (service default SEARCH_DEFAULTS.eliteFraction). */
  elite?: number;
  /** CEM: weight of the elite fit in each update (service default SEARCH_DEFAULTS.smoothing). */
  smoothing?: number;
  progress?: boolean;
  /** Called with each snapshot (tests, --json). */
  onProgress?: (snapshot: SearchSnapshot) => void;
}

export interface SearchSnapshot {
  status: string;
  evaluatedCount: number;
  failureCount: number;
  budget: number;
  iterations: Array<{ iteration: number; n: number; failures: number; invalid: number; valid: number; failureRate: number }>;
}

const SNAPSHOT = "status evaluatedCount failureCount budget iterations { iteration n failures invalid valid failureRate }";

/** The subscription's data, event by event, until the server completes it; GraphQL errors end it with a CommandInputError. */
async function* subscribe(endpoint: string, key: ServiceKey, query: string, variables: Record<string, unknown>): AsyncGenerator<any> {
  for await (const payload of subscriptionEvents(endpoint, key, query, variables)) {
    if (payload.errors?.length) throw new CommandInputError(payload.errors.map((e) => e.message).join("; "));
    yield payload.data;
  }
}

export async function runSearch(options: SearchCommandOptions): Promise<any> {
  const method = options.method.toUpperCase();
  const client = graphqlClient(options.url, options.apiKey);
  const [scenario, detector] = await Promise.all([resolveScenario(client, options.scenario), resolveDetector(client, options.detector)]);
  const started = await client.request(
    `mutation($s: ID!, $d: ID!, $budget: Int!, $method: SearchMethod!, $batch: Int, $seed: Int, $steps: Int, $sampler: Sampler, $guidance: Float, $elite: Float, $smoothing: Float) {
      startFailureSearch(scenarioId: $s, detectorId: $d, budget: $budget, method: $method, batchSize: $batch, seed: $seed, steps: $steps, sampler: $sampler, guidance: $guidance, eliteFraction: $elite, smoothing: $smoothing) {
        __typename ... on Error { message } ... on ValidationError { issues { path message } } ... on MutationStartFailureSearchSuccess { data { id uuid } } } }`,
    {
      s: scenario.id,
      d: detector.id,
      budget: options.budget,
      method,
      batch: options.batch ?? null,
      seed: options.seed ?? null,
      steps: options.steps ?? null,
      sampler: options.sampler ? samplerConstantName(parseSampler(options.sampler)) : null,
      guidance: options.guidance ?? null,
      elite: options.elite ?? null,
      smoothing: options.smoothing ?? null,
    },
  );
  const search = unwrap<{ id: string; uuid: string }>(started.startFailureSearch);
  const bar = options.progress ? new SingleBar({ format: "search [{bar}] {value}/{total} samples | iteration {iteration} failure rate {rate} | {status}", hideCursor: true }) : null;
  bar?.start(options.budget, 0, { iteration: "-", rate: "-", status: "RUNNING" });
  try {
    for await (const data of subscribe(client.endpoint, client.key, `subscription($id: ID!) { searchProgress(searchId: $id) { ${SNAPSHOT} } }`, { id: search.id })) {
      const snapshot = (data as { searchProgress: SearchSnapshot }).searchProgress;
      const last = snapshot.iterations.at(-1);
      bar?.update(snapshot.evaluatedCount, { iteration: last ? last.iteration : "-", rate: last ? `${(last.failureRate * 100).toFixed(1)} %` : "-", status: snapshot.status });
      options.onProgress?.(snapshot);
    }
  } finally {
    bar?.stop();
  }
  const done = await client.request(
    `query($id: ID!) { failureSearch(id: $id) { __typename ... on Error { message } ... on QueryFailureSearchSuccess { data {
      uuid method status error budget evaluatedCount failureCount failureRate { n misses rate lower upper }
      nominalFailureRate { estimate lower upper effectiveSampleSize method }
      iterations { iteration n failures invalid valid failureRate job { uuid } }
      derivedScenario { id name } } } } }`,
    { id: search.id },
  );
  return unwrap<any>(done.failureSearch);
}

export function formatSearch(result: any): string {
  const lines = [`failure search ${result.uuid} (${result.method}): ${result.status}${result.error ? ` — ${result.error}` : ""}`];
  for (const i of result.iterations) {
    lines.push(`  iteration ${String(i.iteration).padStart(2)}: ${String(i.failures).padStart(4)} failures / ${String(i.valid).padStart(4)} valid (${(i.failureRate * 100).toFixed(1).padStart(5)} %), ${i.invalid} invalid, job ${i.job.uuid}`);
  }
  if (result.failureRate) {
    const f = result.failureRate;
    lines.push(`failure rate ${(f.rate * 100).toFixed(1)} % [${(f.lower * 100).toFixed(1)}, ${(f.upper * 100).toFixed(1)}] (95 % Clopper-Pearson), ${f.misses} of ${f.n} valid samples`);
  }
  if (result.nominalFailureRate) {
    const r = result.nominalFailureRate;
    lines.push(
      `nominal failure rate ${(r.estimate * 100).toFixed(1)} % [${(r.lower * 100).toFixed(1)}, ${(r.upper * 100).toFixed(1)}] under the scenario's own distribution (95 %, importance-weighted, effective sample size ${r.effectiveSampleSize.toFixed(0)})`,
    );
  }
  if (result.derivedScenario) lines.push(`learned distribution exported as scenario ${result.derivedScenario.name}`);
  return `${lines.join("\n")}\n`;
}

function numberOption(name: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new CommandInputError(`--${name} must be ${integer ? "an integer" : "a number"}, got "${value}"`);
    return n;
  };
}

export function registerSearchCommand(program: Command): void {
  withServiceOptions(program.command("search"))
    .description("search a scenario's parameters for where a detector fails (CEM, RANDOM or HALTON), following its progress (asks a running service)")
    .requiredOption("--scenario <name|id>", "the scenario whose parameter ranges are searched")
    .requiredOption("--detector <name[@version]|id>", "the detector under test")
    .requiredOption("--budget <n>", "samples to generate and score in all", numberOption("budget", true))
    .option("--method <m>", "CEM | RANDOM | HALTON", "CEM")
    .option("--batch <n>", `samples per iteration (default ${SEARCH_DEFAULTS.batchSize})`, numberOption("batch", true))
    .option("--seed <n>", "seed (default 0)", numberOption("seed", true))
    .option("--steps <n>", "diffusion steps per sample (default: the model's)", numberOption("steps", true))
    .option("--sampler <name>", "sampler (default: the model's)")
    .option("--guidance <g>", "guidance (default: the model's)", numberOption("guidance", false))
    .option("--elite <fraction>", `CEM: elite fraction of each iteration (default ${SEARCH_DEFAULTS.eliteFraction})`, numberOption("elite", false))
    .option("--smoothing <weight>", `CEM: weight of the elite fit in each update (default ${SEARCH_DEFAULTS.smoothing})`, numberOption("smoothing", false))
    .option("--json", "print the result as JSON")
    .action(async (raw: Omit<SearchCommandOptions, "apiKey"> & { key?: string; json?: boolean }) => {
      try {
        const result = await runSearch({ ...raw, apiKey: await resolveServiceKey(raw.key, loadConfig()), progress: process.stderr.isTTY && !raw.json });
        process.stdout.write(raw.json ? `${JSON.stringify(result, null, 2)}\n` : formatSearch(result));
        if (result.status !== "SUCCEEDED") process.exitCode = 1;
      } catch (error) {
        process.stderr.write(`rareforge search: ${(error as Error).name}: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
