// `rareforge report`: a detector's miss rate over a scenario or a job, as a table in the terminal — overall
// and per parameter, each with n and its 95 % Clopper-Pearson interval, the invalid count and the hardest
// samples. It asks a running service over GraphQL (the embedded database has one owner: the service), sending
// an API key (service-client.ts).
import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import { CommandInputError, graphqlClient, resolveServiceKey, withServiceOptions, type GraphQLClient, type ServiceKey } from "./service-client.ts";

/** A typed-result field: the success's data, or the error's message thrown. */
export function unwrap<T>(result: { __typename: string; data?: T; message?: string }): T {
  if (result.data === undefined) throw new CommandInputError(`${result.__typename}: ${result.message ?? "refused"}`);
  return result.data;
}

/** A scenario by Relay id or exact name. */
export async function resolveScenario(client: GraphQLClient, nameOrId: string): Promise<{ id: string; name: string }> {
  const found = await client.request(`query($text: String) { scenarios(first: 50, text: $text, includeArchived: true) { edges { node { id name } } } }`, { text: nameOrId });
  const match = found.scenarios.edges.map((e: any) => e.node).find((n: any) => n.name === nameOrId || n.id === nameOrId);
  if (!match) throw new CommandInputError(`no scenario named "${nameOrId}"`);
  return match;
}

/** A detector by Relay id, name, or name@version. */
export async function resolveDetector(client: GraphQLClient, spec: string): Promise<{ id: string; name: string; version: string }> {
  const found = await client.request(`{ detectors(first: 100) { edges { node { id name version } } } }`);
  const [name, version] = spec.split("@");
  const all = found.detectors.edges.map((e: any) => e.node) as Array<{ id: string; name: string; version: string }>;
  const matches = all.filter((d) => d.id === spec || (d.name === name && (!version || d.version === version)));
  if (matches.length === 0) throw new CommandInputError(`no detector "${spec}"; registered: ${all.map((d) => `${d.name}@${d.version}`).join(", ") || "none"}`);
  if (matches.length > 1) throw new CommandInputError(`detector "${spec}" is ambiguous: ${matches.map((d) => `${d.name}@${d.version}`).join(", ")}; give name@version`);
  return matches[0]!;
}

const REPORT_FIELDS = /* GraphQL */ `
  scope scopeId samples failedSamples unscored invalidCount
  detector { name version }
  outcomes { hit miss wrongClass invalid }
  overall { n misses rate lower upper }
  byParameter { parameter kind levels { label n misses rate lower upper } }
  hardest { outcome confidence parameters artifactUrl sample { uuid } }
`;

export interface ReportOptions {
  url: string;
  apiKey: ServiceKey;
  scenario?: string;
  job?: string;
  detector: string;
  bins?: number;
  hardest?: number;
}

export async function fetchReport(options: ReportOptions): Promise<any> {
  if (!options.scenario === !options.job) throw new CommandInputError("give exactly one of --scenario and --job");
  const client = graphqlClient(options.url, options.apiKey);
  const detector = await resolveDetector(client, options.detector);
  const common = { detectorId: detector.id, bins: options.bins ?? null, hardest: options.hardest ?? null };
  if (options.scenario) {
    const scenario = await resolveScenario(client, options.scenario);
    const data = await client.request(
      `query($s: ID!, $detectorId: ID!, $bins: Int, $hardest: Int) { scenarioReport(scenarioId: $s, detectorId: $detectorId, bins: $bins, hardest: $hardest) {
        __typename ... on Error { message } ... on QueryScenarioReportSuccess { data { ${REPORT_FIELDS} } } } }`,
      { s: scenario.id, ...common },
    );
    return { ...unwrap<any>(data.scenarioReport), scopeName: `scenario ${scenario.name}` };
  }
  const jobId = /^[0-9a-f-]{36}$/i.test(options.job!) ? Buffer.from(`GenerationJob:${options.job}`).toString("base64") : options.job!;
  const data = await client.request(
    `query($j: ID!, $detectorId: ID!, $bins: Int, $hardest: Int) { jobReport(jobId: $j, detectorId: $detectorId, bins: $bins, hardest: $hardest) {
      __typename ... on Error { message } ... on QueryJobReportSuccess { data { ${REPORT_FIELDS} } } } }`,
    { j: jobId, ...common },
  );
  return { ...unwrap<any>(data.jobReport), scopeName: `job ${options.job}` };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const interval = (l: { lower: number; upper: number }) => `[${(l.lower * 100).toFixed(1)}, ${(l.upper * 100).toFixed(1)}]`;

/** Aligned columns: the first column left-aligned, numbers right-aligned. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

export function formatReport(report: any, baseUrl = ""): string {
  const lines = [
    `${report.detector.name} ${report.detector.version} on ${report.scopeName ?? `${report.scope} ${report.scopeId}`}`,
    `samples ${report.samples} (generation failed ${report.failedSamples}, unscored ${report.unscored}); outcomes: hit ${report.outcomes.hit}, miss ${report.outcomes.miss}, wrong class ${report.outcomes.wrongClass}, invalid ${report.invalidCount} (realism gate, excluded)`,
  ];
  if (!report.overall) {
    lines.push("no validly scored sample: no miss rate");
    return `${lines.join("\n")}\n`;
  }
  const rows: string[][] = [["overall", "", String(report.overall.n), String(report.overall.misses), pct(report.overall.rate), interval(report.overall)]];
  for (const b of report.byParameter) {
    b.levels.forEach((l: any, i: number) => rows.push([i === 0 ? b.parameter : "", l.label, String(l.n), String(l.misses), pct(l.rate), interval(l)]));
  }
  lines.push("", ...table(["parameter", "value", "n", "misses", "miss rate", "95 % CI (%)"], rows));
  if (report.hardest.length > 0) {
    lines.push("", "hardest samples (misses first, then lowest confidence):");
    for (const h of report.hardest) {
      const params = Object.entries(h.parameters as Record<string, unknown>)
        .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toFixed(3)) : v}`)
        .join(" ");
      lines.push(`  ${h.outcome.padEnd(11)} ${h.confidence === null ? "   -  " : h.confidence.toFixed(3)}  ${params}  ${h.artifactUrl ? `${baseUrl}${h.artifactUrl}` : ""}`.trimEnd());
    }
  }
  return `${lines.join("\n")}\n`;
}

function intOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new CommandInputError(`--${name} must be an integer, got "${value}"`);
    return n;
  };
}

export function registerReportCommand(program: Command): void {
  withServiceOptions(program.command("report"))
    .description("a detector's miss rate over a scenario or a job: overall and per parameter with 95 % Clopper-Pearson intervals (asks a running service)")
    .option("--scenario <name|id>", "the scenario (its own samples; failure-search iterations excluded)")
    .option("--job <id>", "one generation job")
    .requiredOption("--detector <name[@version]|id>", "the detector, e.g. road-detector")
    .option("--bins <n>", "equal-width bins per continuous parameter", intOption("bins"))
    .option("--hardest <n>", "hardest samples to list", intOption("hardest"))
    .option("--json", "print the report as JSON")
    .action(async (raw: Omit<ReportOptions, "apiKey"> & { key?: string; json?: boolean }) => {
      try {
        const report = await fetchReport({ ...raw, apiKey: await resolveServiceKey(raw.key, loadConfig()) });
        process.stdout.write(raw.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, raw.url.replace(/\/+$/, "")));
      } catch (error) {
        process.stderr.write(`rareforge report: ${(error as Error).name}: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
