// `rareforge suite run <suite.yaml|name> --detector <name|file.onnx> [--baseline …] [--junit f] [--markdown f] [--json f]`:
// runs a validation suite in this process (the configured database, an in-process worker, the shipped models)
// and writes the reports CI reads. Exit code: 0 every criterion passed, 1 a criterion failed, 2 the run could not
// complete (a bad suite file, an unknown detector, samples that could not be generated, a locked database…).
import { existsSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { startService } from "../app.ts";
import { loadConfig, type Config } from "../config.ts";
import { createLogger } from "../logger.ts";
import { exitCodeOf, jsonReport, junitXml, loadSuiteFile, loadSuiteLibrary, markdownSummary, SuiteLibraryError, type SuiteRunSummary, type SuiteSpec } from "../suites/index.ts";
import type { Services } from "../services.ts";

export interface SuiteRunOptions {
  /** A suite file (*.yaml) or the name of a suite in the suites directory (RAREFORGE_SUITES_DIR). */
  suite: string;
  /** A registered detector (`name` or `name@version`) or an export file (*.onnx). */
  detector: string;
  baseline?: string;
  junit?: string;
  markdown?: string;
  json?: string;
  /** Where the gallery the Markdown links to is served (default: the configured host and port). */
  galleryUrl?: string;
  config?: Config;
}

export interface SuiteRunOutcome {
  exitCode: 0 | 1 | 2;
  summary: SuiteRunSummary;
}

const isFile = (value: string) => /\.(ya?ml|onnx)$/i.test(value) || (existsSync(value) && statSync(value).isFile());

async function loadSuite(nameOrFile: string, suitesDir: string): Promise<{ spec: SuiteSpec; label: string }> {
  if (isFile(nameOrFile)) return { spec: await loadSuiteFile(nameOrFile), label: nameOrFile };
  const entry = (await loadSuiteLibrary(suitesDir)).find((e) => e.spec.name === nameOrFile);
  if (!entry) throw new SuiteLibraryError(`no suite named "${nameOrFile}" in ${suitesDir}`);
  return { spec: entry.spec, label: entry.file };
}

const resolveDetector = (services: Services, spec: string) => (isFile(spec) ? services.detectors.registerExportFile(spec) : services.detectors.findByName(spec));

/** Runs the suite and writes the reports asked for; a run that could not complete still writes them (as an error). */
export async function runSuiteCommand(options: SuiteRunOptions): Promise<SuiteRunOutcome> {
  const config = options.config ?? loadConfig();
  const galleryUrl = options.galleryUrl ?? `http://${config.host}:${config.port}`;
  let summary: SuiteRunSummary;
  let suiteName = options.suite;
  try {
    const { spec, label } = await loadSuite(options.suite, config.suitesDir);
    suiteName = spec.name;
    // the service in this process, on a private port: its worker generates, its services score and judge
    const service = await startService(
      { ...config, host: "127.0.0.1", port: 0 },
      { logger: createLogger(config.logLevel, { stderr: true }), announce: (_key, file) => process.stderr.write(`rareforge suite: the database's first admin key is in ${file}\n`) },
    );
    try {
      const { services } = service;
      await services.suites.importSpecs([{ label, spec }], "LIBRARY");
      const suite = await services.suites.byName(spec.name);
      const detector = await resolveDetector(services, options.detector);
      const baseline = options.baseline ? await resolveDetector(services, options.baseline) : null;
      const run = await services.suites.start({ suiteId: suite.id, detectorId: detector.id, baselineDetectorId: baseline?.id ?? null });
      await services.suites.settled(run.id);
      summary = await services.suites.summary(run.id);
    } finally {
      await service.close();
    }
  } catch (error) {
    summary = {
      runId: "",
      suite: { name: suiteName, version: 0 },
      detector: { name: options.detector, version: "" },
      baseline: options.baseline ? { name: options.baseline, version: "" } : null,
      status: "ERROR",
      generated: 0,
      reused: 0,
      error: `${(error as Error).name}: ${(error as Error).message}`,
      report: null,
    };
  }
  const written = new Date();
  if (options.junit) await writeFile(options.junit, junitXml(summary, written));
  if (options.markdown) await writeFile(options.markdown, markdownSummary(summary, galleryUrl));
  if (options.json) await writeFile(options.json, jsonReport(summary));
  return { exitCode: exitCodeOf(summary.status), summary };
}

/** One line per criterion, failures first: what a CI log shows. */
export function formatSuiteRun(summary: SuiteRunSummary): string {
  const lines = [`suite ${summary.suite.name} v${summary.suite.version}: ${summary.status} (${summary.generated} samples generated, ${summary.reused} reused)`];
  if (summary.error) lines.push(`  ${summary.error}`);
  const criteria = summary.report?.scenarios.flatMap((s) => s.criteria) ?? [];
  const order = { FAILED: 0, SKIPPED: 1, PASSED: 2 } as const;
  for (const c of [...criteria].sort((a, b) => order[a.status] - order[b.status])) {
    lines.push(`  ${c.status.padEnd(7)} ${c.scenario} ${c.kind}${c.conditionLabel ? ` [${c.conditionLabel}]` : ""}: ${c.message}`);
  }
  return `${lines.join("\n")}\n`;
}

export function registerSuiteCommand(program: Command): void {
  const suite = program.command("suite").description("validation suites: pass/fail gates for a detector on rare scenarios");
  suite
    .command("run <suite>")
    .description("run a suite (a suites/*.yaml name or a file) for a detector, generating only the samples not made before; exit 0 pass, 1 fail, 2 could not complete")
    .requiredOption("--detector <name[@version]|file.onnx>", "the detector under test (registered, or an Ultralytics/YOLOX export file)")
    .option("--baseline <name[@version]|file.onnx>", "a baseline detector: paired regression tests on the same samples")
    .option("--junit <file>", "write a JUnit XML report (one testsuite per scenario, one testcase per criterion)")
    .option("--markdown <file>", "write a Markdown summary")
    .option("--json <file>", "write the whole report as JSON")
    .option("--gallery-url <url>", "base URL of the gallery the Markdown links to (default http://HOST:PORT)")
    .action(async (suiteArgument: string, raw: Omit<SuiteRunOptions, "suite">) => {
      try {
        const { exitCode, summary } = await runSuiteCommand({ ...raw, suite: suiteArgument });
        process.stdout.write(formatSuiteRun(summary));
        process.exitCode = exitCode;
      } catch (error) {
        // a report that could not be written: the run did not complete as far as CI can tell
        process.stderr.write(`rareforge suite run: ${(error as Error).name}: ${(error as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}
