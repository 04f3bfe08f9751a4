// What a suite run hands to CI: JUnit XML (one testsuite per scenario, one testcase per criterion, failures
// carrying the figures), a Markdown summary (regressions first, a table per scenario, links to the hardest
// samples in the gallery) and JSON. Pure functions of the stored run.
import type { CriterionResult, ScenarioReport, SuiteReport } from "./evaluate.ts";

/** A finished (or failed) run as the outputs need it. */
export interface SuiteRunSummary {
  readonly runId: string;
  readonly suite: { readonly name: string; readonly version: number };
  readonly detector: { readonly name: string; readonly version: string };
  readonly baseline: { readonly name: string; readonly version: string } | null;
  readonly status: "PASSED" | "FAILED" | "ERROR" | "RUNNING";
  readonly generated: number;
  readonly reused: number;
  readonly error: string | null;
  readonly report: SuiteReport | null;
}

/** The process exit code CI reads: 0 every criterion passed, 1 a criterion failed, 2 the run could not complete. */
export function exitCodeOf(status: SuiteRunSummary["status"]): 0 | 1 | 2 {
  return status === "PASSED" ? 0 : status === "FAILED" ? 1 : 2;
}

/** The gallery page of a sample or a suite run (the Relay global id the gallery routes by). */
export function galleryUrl(baseUrl: string, type: "Sample" | "SuiteRun", id: string): string {
  const route = type === "Sample" ? "sample" : "suite-run";
  return `${baseUrl.replace(/\/+$/, "")}/gallery/#/${route}/${encodeURIComponent(Buffer.from(`${type}:${id}`).toString("base64"))}`;
}

// XML 1.0 allows tab, newline, carriage return and code points from U+0020 (minus surrogates and U+FFFE/F).
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const xml = (text: string) =>
  text.replace(NOT_XML_CHAR, "\uFFFD").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);

const criterionName = (c: CriterionResult) => (c.conditionLabel ? `${c.kind} [${c.conditionLabel}]` : c.kind);

function testcase(suiteName: string, c: CriterionResult): string {
  const open = `    <testcase name="${xml(criterionName(c))}" classname="${xml(`${suiteName}.${c.scenario}`)}" time="0"`;
  if (c.status === "PASSED") return `${open}>\n      <system-out>${xml(c.message)}</system-out>\n    </testcase>`;
  if (c.status === "SKIPPED") return `${open}>\n      <skipped message="${xml(c.message)}"/>\n    </testcase>`;
  return `${open}>\n      <failure message="${xml(c.message)}" type="${xml(c.kind)}">${xml(c.message)}</failure>\n    </testcase>`;
}

function properties(run: SuiteRunSummary, extra: Record<string, string | number>): string {
  const all: Record<string, string | number> = {
    "rareforge.suite": `${run.suite.name} v${run.suite.version}`,
    "rareforge.run": run.runId,
    "rareforge.detector": `${run.detector.name} ${run.detector.version}`,
    ...(run.baseline ? { "rareforge.baseline": `${run.baseline.name} ${run.baseline.version}` } : {}),
    ...extra,
  };
  return `    <properties>\n${Object.entries(all).map(([name, value]) => `      <property name="${xml(name)}" value="${xml(String(value))}"/>`).join("\n")}\n    </properties>`;
}

function testsuite(run: SuiteRunSummary, s: ScenarioReport, timestamp: string): string {
  const count = (status: string) => s.criteria.filter((c) => c.status === status).length;
  const attributes = `name="${xml(s.scenario)}" tests="${s.criteria.length}" failures="${count("FAILED")}" errors="0" skipped="${count("SKIPPED")}" time="0" timestamp="${timestamp}" hostname="rareforge"`;
  const props = properties(run, { "rareforge.scenarioVersion": s.scenarioVersion, "rareforge.seed": s.seed, "rareforge.samples": s.samples, "rareforge.valid": s.n, "rareforge.invalid": s.invalid });
  return `  <testsuite ${attributes}>\n${props}\n${s.criteria.map((c) => testcase(run.suite.name, c)).join("\n")}\n  </testsuite>`;
}

/**
 * JUnit XML in the shape Jenkins, GitLab, GitHub test reporters and Surefire read: <testsuites> of <testsuite>
 * (properties, testcases) whose counts add up. A run that could not complete is one testsuite whose single
 * testcase carries an <error> with the reason.
 */
export function junitXml(run: SuiteRunSummary, finishedAt: Date): string {
  const timestamp = finishedAt.toISOString().slice(0, 19);
  const header = `<?xml version="1.0" encoding="UTF-8"?>\n`;
  if (!run.report || run.status === "ERROR" || run.status === "RUNNING") {
    const reason = run.error ?? `the run is ${run.status.toLowerCase()}`;
    return (
      `${header}<testsuites name="${xml(run.suite.name)}" tests="1" failures="0" errors="1" skipped="0" time="0">\n` +
      `  <testsuite name="${xml(run.suite.name)}" tests="1" failures="0" errors="1" skipped="0" time="0" timestamp="${timestamp}" hostname="rareforge">\n${properties(run, {})}\n` +
      `    <testcase name="run" classname="${xml(run.suite.name)}" time="0">\n      <error message="${xml(reason)}" type="SuiteRunError">${xml(reason)}</error>\n    </testcase>\n  </testsuite>\n</testsuites>\n`
    );
  }
  const { counts } = run.report;
  const tests = counts.PASSED + counts.FAILED + counts.SKIPPED;
  return (
    `${header}<testsuites name="${xml(run.suite.name)}" tests="${tests}" failures="${counts.FAILED}" errors="0" skipped="${counts.SKIPPED}" time="0">\n` +
    `${run.report.scenarios.map((s) => testsuite(run, s, timestamp)).join("\n")}\n</testsuites>\n`
  );
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)} %`);
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** The Markdown summary: the verdict, regressions first, then per scenario its criteria and hardest samples. */
export function markdownSummary(run: SuiteRunSummary, galleryBaseUrl: string): string {
  const lines = [`# Suite ${run.suite.name} v${run.suite.version}: ${run.status}`, ""];
  const runLink = run.runId ? `[run ${run.runId}](${galleryUrl(galleryBaseUrl, "SuiteRun", run.runId)})` : "no run";
  lines.push(`Detector **${run.detector.name} ${run.detector.version}**${run.baseline ? ` against baseline **${run.baseline.name} ${run.baseline.version}**` : ""}; ${runLink}.`);
  lines.push(`Samples: ${run.generated} generated for this run, ${run.reused} reused.`, "");
  if (!run.report) {
    lines.push(`The run could not complete: ${run.error ?? run.status}`, "");
    return `${lines.join("\n")}\n`;
  }
  const report = run.report;
  lines.push(`Criteria: ${report.counts.PASSED} passed, ${report.counts.FAILED} failed, ${report.counts.SKIPPED} skipped (miss-rate bounds at ${report.level * 100} %, paired tests Holm-corrected at alpha ${report.alpha}).`, "");
  const regressions = report.scenarios.flatMap((s) => s.criteria.filter((c) => c.kind === "maxRegression" && c.status === "FAILED"));
  lines.push("## Regressions", "");
  if (regressions.length === 0) lines.push(report.baseline ? "None: no significant regression against the baseline." : "Not tested: no baseline detector.", "");
  else for (const c of regressions) lines.push(`- **${c.scenario}${c.conditionLabel ? ` [${c.conditionLabel}]` : ""}**: ${c.message}`);
  if (regressions.length > 0) lines.push("");
  // failing scenarios first, in suite order otherwise
  const ordered = [...report.scenarios].sort((a, b) => Number(b.status === "FAILED") - Number(a.status === "FAILED"));
  for (const s of ordered) {
    lines.push(`## ${s.scenario} (v${s.scenarioVersion}): ${s.status}`, "");
    lines.push(
      `${s.samples} samples (seed ${s.seed}, ${s.sampler}, ${s.steps} steps, guidance ${s.guidance}${s.quality === "fast" ? ", quality fast" : ""}): ${s.n} valid, ${s.invalid} refused by the realism gate. ` +
        `Miss rate ${s.missRate ? `${s.missRate.misses}/${s.missRate.n} = ${pct(s.missRate.rate)} [${pct(s.missRate.lower)}, ${pct(s.missRate.upper)}]` : "–"}` +
        (s.baselineMissRate ? `; baseline ${s.baselineMissRate.misses}/${s.baselineMissRate.n} = ${pct(s.baselineMissRate.rate)}` : "") +
        (s.paired ? `; paired: ${s.paired.baselineOnlyHit} found only by the baseline, ${s.paired.candidateOnlyHit} only by the candidate` : "") +
        ".",
      "",
    );
    lines.push("| Criterion | Status | Observed | Limit | p (Holm) | Figures |", "|---|---|---|---|---|---|");
    for (const c of s.criteria) {
      const p = c.pValue === null ? "–" : `${c.pValue.toPrecision(3)} (${c.adjustedP === null ? "–" : c.adjustedP.toPrecision(3)})`;
      lines.push(`| ${cell(criterionName(c))} | ${c.status} | ${pct(c.observed)} | ${pct(c.limit)} | ${p} | ${cell(c.message)} |`);
    }
    lines.push("");
    if (s.hardest.length > 0) {
      lines.push("Hardest samples: " + s.hardest.map((h) => `[#${h.index} ${h.outcome}${h.confidence !== null ? ` ${h.confidence.toFixed(2)}` : ""}](${galleryUrl(galleryBaseUrl, "Sample", h.sampleId)})`).join(", "), "");
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The JSON document: the run's identity and counts, and the report (identical for identical samples and scores). */
export function jsonReport(run: SuiteRunSummary): string {
  return `${JSON.stringify(run, null, 2)}\n`;
}
