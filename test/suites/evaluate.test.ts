// Judging a suite from synthetic evidence: a planted regression on one condition is flagged (and only there),
// an identical pair of detectors is not, Holm's family is the whole suite's paired tests, miss-rate criteria
// follow the Clopper-Pearson upper bound, INVALID samples are left out and counted; and the outputs (JUnit read by
// junitparser, a maintained JUnit consumer, and checked by xmllint; Markdown; exit codes) follow the report.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clopperPearson } from "../../src/detection/index.ts";
import {
  evaluateSuite,
  exactMcNemar,
  exitCodeOf,
  holmAdjust,
  junitXml,
  markdownSummary,
  parseSuiteSpec,
  parseSuiteYaml,
  type ScenarioEvidence,
  type StoredOutcome,
  type SuiteRunSummary,
  type SuiteSample,
  type SuiteSpec,
} from "../../src/suites/index.ts";

const spec = (yaml: string): SuiteSpec => {
  const parsed = parseSuiteYaml(yaml);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.spec;
};

const SUITE = spec(`
name: night-gate
alpha: 0.05
scenarios:
  - scenario: deer
    samples: 200
    seed: 1
    criteria:
      maxMissRate: 0.4
      minValidShare: 0.9
      maxRegression: 0
      conditions:
        - where: {timeOfDay: night}
          maxMissRate: 0.5
        - where: {timeOfDay: day}
          maxRegression: 0
  - scenario: cones
    samples: 60
    seed: 2
    criteria:
      maxRegression: 0.05
`);

/**
 * Samples of one scenario: half at night. The baseline misses every 5th sample; the candidate equals the baseline
 * except on `planted` night samples where the baseline hits and the candidate misses.
 */
function samplesOf(n: number, planted: number, invalidEvery = 0): SuiteSample[] {
  let plantedLeft = planted;
  return Array.from({ length: n }, (_, index) => {
    const night = index % 2 === 1;
    const baseline: StoredOutcome = index % 5 === 0 ? "MISS" : "HIT";
    let candidate: StoredOutcome = baseline;
    if (night && baseline === "HIT" && plantedLeft > 0) {
      candidate = index % 3 === 0 ? "WRONG_CLASS" : "MISS";
      plantedLeft--;
    }
    const invalid = invalidEvery > 0 && index % invalidEvery === invalidEvery - 1;
    return {
      sampleId: `00000000-0000-4000-8000-${String(index).padStart(12, "0")}`,
      index,
      parameters: { timeOfDay: night ? "night" : "day", hazardW: 0.1 + index / 1000 },
      candidate: invalid ? "INVALID" : candidate,
      candidateConfidence: candidate === "HIT" ? 0.5 + (index % 7) / 20 : 0,
      baseline: invalid ? "INVALID" : baseline,
    };
  });
}

const evidence = (deer: SuiteSample[], cones: SuiteSample[]): ScenarioEvidence[] => [
  { entry: SUITE.scenarios[0]!, scenarioVersion: 1, sampler: "ddim", steps: 4, guidance: 3, samples: deer },
  { entry: SUITE.scenarios[1]!, scenarioVersion: 3, sampler: "ddim", steps: 4, guidance: 3, samples: cones },
];

/** The 2x2 table counted directly from the samples (independent of the library's counting). */
function table(samples: SuiteSample[]) {
  const miss = (o: StoredOutcome | undefined) => o === "MISS" || o === "WRONG_CLASS";
  const valid = samples.filter((s) => s.candidate !== "INVALID" && s.baseline !== "INVALID");
  return {
    n: valid.length,
    baselineOnlyHit: valid.filter((s) => miss(s.candidate) && !miss(s.baseline)).length,
    candidateOnlyHit: valid.filter((s) => !miss(s.candidate) && miss(s.baseline)).length,
    candidateMisses: valid.filter((s) => miss(s.candidate)).length,
  };
}

describe("a planted regression on one condition", () => {
  const deer = samplesOf(200, 25);
  const cones = samplesOf(60, 0);
  const report = evaluateSuite(SUITE, evidence(deer, cones), true);
  const deerReport = report.scenarios[0]!;
  const criterion = (scenario: number, kind: string, label: string | null) => report.scenarios[scenario]!.criteria.find((c) => c.kind === kind && c.conditionLabel === label)!;

  it("is flagged at night and for the scenario as a whole, not by day and not on the unchanged scenario", () => {
    expect(criterion(0, "maxRegression", "timeOfDay=night").status).toBe("FAILED");
    expect(criterion(0, "maxRegression", null).status).toBe("FAILED");
    expect(criterion(0, "maxRegression", "timeOfDay=day").status).toBe("PASSED");
    expect(criterion(1, "maxRegression", null).status).toBe("PASSED");
    expect(report.status).toBe("FAILED");
    expect(exitCodeOf(report.status)).toBe(1);
  });

  it("reports the paired counts, exact McNemar p-values and Holm-adjusted ones of the suite's four tests", () => {
    const night = deer.filter((s) => s.parameters.timeOfDay === "night");
    const counted = table(night);
    expect(counted.baselineOnlyHit).toBe(25);
    const nightReport = deerReport.conditions.find((c) => c.label === "timeOfDay=night")!;
    expect(nightReport.paired).toMatchObject({ n: 100, baselineOnlyHit: 25, candidateOnlyHit: 0 });
    // the family: deer whole, deer night, deer day, cones whole — in that order in the report
    const tables = [table(deer), counted, table(deer.filter((s) => s.parameters.timeOfDay === "day")), table(cones)];
    const pValues = tables.map((t) => (t.baselineOnlyHit + t.candidateOnlyHit === 0 ? 1 : Math.min(1, 2 * 0.5 ** (t.baselineOnlyHit + t.candidateOnlyHit) * sumChoose(t.baselineOnlyHit + t.candidateOnlyHit, Math.min(t.baselineOnlyHit, t.candidateOnlyHit)))));
    const adjusted = holmAdjust(pValues);
    const reported = [criterion(0, "maxRegression", null), criterion(0, "maxRegression", "timeOfDay=night"), criterion(0, "maxRegression", "timeOfDay=day"), criterion(1, "maxRegression", null)];
    reported.forEach((c, i) => {
      expect(c.pValue).toBeCloseTo(pValues[i]!, 12);
      expect(c.adjustedP).toBeCloseTo(adjusted[i]!, 12);
      expect(c.observed).toBeCloseTo((tables[i]!.baselineOnlyHit - tables[i]!.candidateOnlyHit) / tables[i]!.n, 12);
    });
    expect(criterion(0, "maxRegression", "timeOfDay=night").message).toMatch(/25 found only by the baseline and 0 only by the candidate/);
  });

  it("judges miss rates by the Clopper-Pearson upper bound, per scenario and per condition", () => {
    const night = table(deer.filter((s) => s.parameters.timeOfDay === "night"));
    const bound = clopperPearson(night.candidateMisses, night.n).upper;
    const c = criterion(0, "maxMissRate", "timeOfDay=night");
    expect(c.observed).toBeCloseTo(bound, 12);
    expect(c.status).toBe(bound <= 0.5 ? "PASSED" : "FAILED");
    const whole = criterion(0, "maxMissRate", null);
    expect(whole.observed).toBeCloseTo(clopperPearson(table(deer).candidateMisses, 200).upper, 12);
    expect(whole.message).toMatch(/Clopper-Pearson upper bound/);
  });

  it("lists the candidate's misses first among the hardest samples", () => {
    expect(deerReport.hardest).toHaveLength(5);
    for (const h of deerReport.hardest) expect(["MISS", "WRONG_CLASS"]).toContain(h.outcome);
  });
});

/** sum_{k <= m} C(n, k), in doubles (n small here). */
function sumChoose(n: number, m: number): number {
  let term = 1;
  let sum = 1;
  for (let k = 1; k <= m; k++) {
    term = (term * (n - k + 1)) / k;
    sum += term;
  }
  return sum;
}

describe("an identical pair of detectors", () => {
  const report = evaluateSuite(SUITE, evidence(samplesOf(200, 0), samplesOf(60, 0)), true);

  it("flags no regression: every paired test has p = 1", () => {
    const regressions = report.scenarios.flatMap((s) => s.criteria.filter((c) => c.kind === "maxRegression"));
    expect(regressions).toHaveLength(4);
    for (const c of regressions) {
      expect(c.status).toBe("PASSED");
      expect(c.pValue).toBe(1);
      expect(c.adjustedP).toBe(1);
    }
  });
});

describe("without a baseline, and with samples the realism gate refused", () => {
  const deer = samplesOf(200, 0, 10).map(({ baseline: _dropped, ...s }) => s);
  const cones = samplesOf(60, 0).map(({ baseline: _dropped, ...s }) => s);
  const report = evaluateSuite(SUITE, evidence(deer, cones), false);

  it("skips the regression criteria and judges the rest", () => {
    const regressions = report.scenarios.flatMap((s) => s.criteria.filter((c) => c.kind === "maxRegression"));
    expect(regressions.map((c) => c.status)).toEqual(["SKIPPED", "SKIPPED", "SKIPPED", "SKIPPED"]);
    expect(report.counts.SKIPPED).toBe(4);
  });

  it("leaves INVALID samples out of the miss rates and counts them against the valid share", () => {
    const s = report.scenarios[0]!;
    expect(s.invalid).toBe(20);
    expect(s.n).toBe(180);
    expect(s.missRate!.n).toBe(180);
    const share = s.criteria.find((c) => c.kind === "minValidShare")!;
    expect(share.observed).toBeCloseTo(0.9, 12);
    expect(share.status).toBe("PASSED");
  });
});

describe("suite definitions", () => {
  it("name every bad field", () => {
    const parsed = parseSuiteSpec({ name: "Bad Name", scenarios: [{ scenario: "x", samples: 0, seed: -1, criteria: { maxMissRate: 2, conditions: [{ where: {} }] } }] });
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["name", "scenarios.0.samples", "scenarios.0.seed", "scenarios.0.criteria.maxMissRate", "scenarios.0.criteria.conditions.0.where"]));
  });

  it("refuse the same scenario twice, unknown keys, and YAML that expands too many aliases", () => {
    const twice = parseSuiteSpec({ name: "a", scenarios: [1, 2].map(() => ({ scenario: "x", samples: 1, seed: 0, criteria: {} })) });
    expect(twice.ok ? [] : twice.issues.map((i) => i.message)).toContain('scenario "x" appears twice');
    const unknown = parseSuiteSpec({ name: "a", scenarios: [{ scenario: "x", samples: 1, seed: 0, criteria: { maxMisRate: 0.1 } }] });
    expect(unknown.ok).toBe(false);
    const bomb = `a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n`;
    const parsed = parseSuiteYaml(bomb);
    expect(parsed.ok).toBe(false);
  });
});

describe("suite quality", () => {
  it("takes quality fast or default for the suite and per scenario, and refuses anything else", () => {
    const parsed = spec(`name: q\nquality: fast\nscenarios:\n  - {scenario: a, samples: 1, seed: 0, criteria: {}}\n  - {scenario: b, samples: 1, seed: 0, quality: default, criteria: {}}\n`);
    expect(parsed.quality).toBe("fast");
    expect(parsed.scenarios.map((s) => s.quality)).toEqual([undefined, "default"]);
    const bad = parseSuiteSpec({ name: "q", quality: "turbo", scenarios: [{ scenario: "a", samples: 1, seed: 0, quality: "FAST", criteria: {} }] });
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual(["quality", "scenarios.0.quality"]);
  });

  it("records in the report the quality each scenario's samples were made at", () => {
    const fast = evaluateSuite(SUITE, evidence(samplesOf(200, 25), samplesOf(60, 0)).map((e) => ({ ...e, quality: "fast" as const })), true);
    expect(fast.scenarios.every((s) => s.quality === "fast")).toBe(true);
    const plain = evaluateSuite(SUITE, evidence(samplesOf(200, 25), samplesOf(60, 0)), true);
    expect(plain.scenarios.every((s) => s.quality === "default")).toBe(true);
  });
});

describe("outputs", () => {
  const dir = mkdtempSync(join(tmpdir(), "rareforge-suite-outputs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const report = evaluateSuite(SUITE, evidence(samplesOf(200, 25), samplesOf(60, 0)), true);
  const run: SuiteRunSummary = {
    runId: "11111111-1111-4111-8111-111111111111",
    suite: { name: "night-gate", version: 2 },
    detector: { name: "candidate <v2>", version: "2.0" },
    baseline: { name: "baseline & co", version: "1.0" },
    status: report.status,
    generated: 12,
    reused: 248,
    error: null,
    report,
  };
  const python = "/usr/bin/python3";
  const junitparser = spawnSync(python, ["-c", "import junitparser"]).status === 0;
  if (!junitparser) console.warn("skipping the junitparser check: /usr/bin/python3 cannot import junitparser (apt-get install python3-junitparser)");

  it.skipIf(!junitparser)("JUnit XML is read by junitparser: one testsuite per scenario, one testcase per criterion, failures with figures", () => {
    const file = join(dir, "report.xml");
    writeFileSync(file, junitXml(run, new Date("2026-12-05T12:00:00Z")));
    const read = spawnSync(
      python,
      [
        "-c",
        `import json, sys
from junitparser import JUnitXml, Failure, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
out = []
for suite in xml:
    cases = []
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        messages = [r.message for r in case.result]
        cases.append({"name": case.name, "classname": case.classname, "results": kinds, "messages": messages})
    out.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures, "skipped": suite.skipped, "errors": suite.errors, "cases": cases,
                "properties": {p.name: p.value for p in suite.properties()}})
print(json.dumps(out))`,
        file,
      ],
      { encoding: "utf8" },
    );
    expect(read.stderr).toBe("");
    const suites = JSON.parse(read.stdout) as Array<{ name: string; tests: number; failures: number; skipped: number; errors: number; properties: Record<string, string>; cases: Array<{ name: string; classname: string; results: string[]; messages: string[] }> }>;
    expect(suites.map((s) => s.name)).toEqual(["deer", "cones"]);
    report.scenarios.forEach((scenario, i) => {
      const read = suites[i]!;
      expect(read.tests).toBe(scenario.criteria.length);
      expect(read.cases).toHaveLength(scenario.criteria.length);
      expect(read.failures).toBe(scenario.criteria.filter((c) => c.status === "FAILED").length);
      expect(read.properties["rareforge.detector"]).toBe("candidate <v2> 2.0");
      scenario.criteria.forEach((c, k) => {
        expect(read.cases[k]!.results).toEqual(c.status === "FAILED" ? ["Failure"] : c.status === "SKIPPED" ? ["Skipped"] : []);
        if (c.status === "FAILED") expect(read.cases[k]!.messages[0]).toBe(c.message);
      });
    });
    expect(suites[0]!.cases.find((c) => c.name === "maxRegression [timeOfDay=night]")!.messages[0]).toMatch(/exact McNemar p = .*Holm-adjusted/);
  });

  const xmllint = spawnSync("xmllint", ["--version"]).status === 0;
  it.skipIf(!xmllint)("JUnit XML is well-formed, and a run that could not complete is one errored testcase", () => {
    writeFileSync(join(dir, "report.xml"), junitXml(run, new Date()));
    const file = join(dir, "error.xml");
    writeFileSync(file, junitXml({ ...run, status: "ERROR", report: null, error: "SuiteRunError: 3 of 8 samples could not be generated \u0001" }, new Date()));
    const checked = spawnSync("xmllint", ["--noout", file, join(dir, "report.xml")], { encoding: "utf8" });
    expect(checked.stderr).toBe("");
    expect(checked.status).toBe(0);
    expect(exitCodeOf("ERROR")).toBe(2);
    expect(exitCodeOf("PASSED")).toBe(0);
  });

  it("the Markdown summary puts regressions first and links the hardest samples to the gallery", () => {
    const markdown = markdownSummary(run, "http://ci.example:4000/");
    expect(markdown.indexOf("## Regressions")).toBeLessThan(markdown.indexOf("## deer"));
    expect(markdown).toContain(`[run ${run.runId}](http://ci.example:4000/gallery/#/suite-run/${encodeURIComponent(Buffer.from(`SuiteRun:${run.runId}`).toString("base64"))})`);
    expect(markdown).toMatch(/- \*\*deer \[timeOfDay=night\]\*\*: of 100 paired samples at timeOfDay=night, 25 found only by the baseline/);
    const id = report.scenarios[0]!.hardest[0]!.sampleId;
    expect(markdown).toContain(`(http://ci.example:4000/gallery/#/sample/${encodeURIComponent(Buffer.from(`Sample:${id}`).toString("base64"))})`);
    expect(markdown).toMatch(/\| maxRegression \[timeOfDay=night\] \| FAILED \|/);
  });
});

// keep the independent McNemar in the test honest: the library's value for one table equals the formula used above
it("the test's own p-value formula agrees with the library on a known table", () => {
  expect(exactMcNemar({ bothHit: 0, candidateOnlyHit: 1, baselineOnlyHit: 9, bothMiss: 0 }).pValue).toBeCloseTo(2 * 0.5 ** 10 * sumChoose(10, 1), 15);
});
