// `rareforge suite run` as CI runs it: in its own process on a fresh data directory, a suite file over a library
// scenario and the shipped road detector. Exit 0 when every criterion passes (the JUnit report read by junitparser,
// the Markdown and JSON written), 1 when one fails (the second run reuses every sample: 0 generated), 2 when the run
// cannot complete (an unknown detector), with the JUnit report then carrying the error.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const shippedPresent = ["road-hazards", "road-detector"].every((p) => existsSync(join(root, "models", p)));
if (!shippedPresent) console.warn("skipping the suite command test: models/road-hazards or road-detector is absent");
const work = mkdtempSync(join(tmpdir(), "rareforge-suite-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const suiteFile = (name: string, maxMissRate: number) => {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nscenarios:\n  - scenario: deer-crossing-night-fog\n    samples: 4\n    seed: 11\n    steps: 2\n    criteria:\n      maxMissRate: ${maxMissRate}\n      conditions:\n        - where: {weather: fog}\n          maxMissRate: ${maxMissRate}\n`,
  );
  return file;
};

function suiteRun(args: string[]) {
  return spawnSync(process.execPath, [join(root, "bin/rareforge.mjs"), "suite", "run", ...args], {
    encoding: "utf8",
    cwd: root,
    timeout: 240_000,
    env: { ...process.env, RAREFORGE_DATA_DIR: join(work, "data"), RAREFORGE_REALISM_GATE: "false", LOG_LEVEL: "error" },
  });
}

const junitCases = (file: string) => {
  const read = spawnSync(
    "/usr/bin/python3",
    ["-c", "import json, sys\nfrom junitparser import JUnitXml\nprint(json.dumps([[suite.name, [[case.name, [type(r).__name__ for r in case.result]] for case in suite]] for suite in JUnitXml.fromfile(sys.argv[1])]))", file],
    { encoding: "utf8" },
  );
  if (read.status !== 0) throw new Error(read.stderr);
  return JSON.parse(read.stdout) as Array<[string, Array<[string, string[]]>]>;
};
const junitparser = spawnSync("/usr/bin/python3", ["-c", "import junitparser"]).status === 0;
if (!junitparser) console.warn("the suite command test reads JUnit reports without junitparser (apt-get install python3-junitparser): structure only");

describe.skipIf(!shippedPresent)("rareforge suite run", () => {
  it("exits 0 when every criterion passes and writes JUnit, Markdown and JSON", { timeout: 300_000 }, () => {
    const junit = join(work, "pass.xml");
    const result = suiteRun([suiteFile("lenient", 1), "--detector", "road-detector", "--junit", junit, "--markdown", join(work, "pass.md"), "--json", join(work, "pass.json")]);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^suite lenient v1: PASSED \(4 samples generated, 0 reused\)/);
    const json = JSON.parse(readFileSync(join(work, "pass.json"), "utf8"));
    expect(json).toMatchObject({ status: "PASSED", generated: 4, reused: 0, report: { status: "PASSED", counts: { PASSED: 2, FAILED: 0 } } });
    expect(readFileSync(join(work, "pass.md"), "utf8")).toMatch(/^# Suite lenient v1: PASSED/);
    if (junitparser) expect(junitCases(junit)).toEqual([["deer-crossing-night-fog", [["maxMissRate", []], ["maxMissRate [weather=fog]", []]]]]);
    else expect(readFileSync(junit, "utf8")).toMatch(/<testsuite name="deer-crossing-night-fog" tests="2" failures="0"/);
  });

  it("exits 1 when a criterion fails, reusing every sample of the earlier run", { timeout: 300_000 }, () => {
    const junit = join(work, "fail.xml");
    // a miss-rate limit of 0 fails whatever the detector does: the upper Clopper-Pearson bound of n samples is > 0
    const result = suiteRun([suiteFile("strict", 0), "--detector", "road-detector", "--junit", junit]);
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^suite strict v1: FAILED \(0 samples generated, 4 reused\)/);
    expect(result.stdout).toMatch(/FAILED {2}deer-crossing-night-fog maxMissRate: miss rate \d\/4 = .* 95 % Clopper-Pearson upper bound .* > limit 0\.0 %/);
    if (junitparser) expect(junitCases(junit)).toEqual([["deer-crossing-night-fog", [["maxMissRate", ["Failure"]], ["maxMissRate [weather=fog]", ["Failure"]]]]]);
  });

  it("exits 2 when the run cannot complete, and the JUnit report carries the error", { timeout: 300_000 }, () => {
    const junit = join(work, "error.xml");
    const result = suiteRun([suiteFile("lenient", 1), "--detector", "no-such-detector", "--junit", junit]);
    expect(result.status).toBe(2);
    expect(result.stdout).toMatch(/ERROR .*\n {2}NotFoundError: detector no-such-detector not found/);
    if (junitparser) expect(junitCases(junit)).toEqual([["lenient", [["run", ["Error"]]]]]);
    const bad = suiteRun([join(work, "missing.yaml"), "--detector", "road-detector"]);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toMatch(/ENOENT/);
  });
});
