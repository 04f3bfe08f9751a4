// The suites shipped under suites/: each parses, names scenarios of the library in scenarios/, and its conditions
// name parameters those scenarios have (the service checks the same against the stored scenarios at import).
import { describe, expect, it } from "vitest";
import { loadScenarioLibrary } from "../../src/scenarios/index.ts";
import { loadSuiteLibrary, loadSuiteFile, SuiteLibraryError } from "../../src/suites/index.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SUITES = new URL("../../suites/", import.meta.url).pathname;
const SCENARIOS = new URL("../../scenarios/", import.meta.url).pathname;

describe("the suite library", () => {
  it("parses and names library scenarios and their parameters", async () => {
    const suites = await loadSuiteLibrary(SUITES);
    expect(suites.map((s) => s.spec.name)).toContain("road-hazards-gate");
    const scenarios = new Map((await loadScenarioLibrary(SCENARIOS)).map((e) => [e.spec.name, e.spec]));
    for (const { spec } of suites) {
      for (const entry of spec.scenarios) {
        const scenario = scenarios.get(entry.scenario);
        expect(scenario, `${spec.name}: ${entry.scenario}`).toBeDefined();
        for (const condition of entry.criteria.conditions) for (const name of Object.keys(condition.where)) expect(Object.keys(scenario!.parameters)).toContain(name);
      }
    }
  });

  it("refuses a file naming the bad field, a file too large before reading it, and one suite defined twice", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rareforge-suite-library-"));
    try {
      writeFileSync(join(dir, "a.yaml"), "name: a\nscenarios:\n  - {scenario: x, samples: 0, seed: 1, criteria: {}}\n");
      await expect(loadSuiteFile(join(dir, "a.yaml"))).rejects.toThrow(/a\.yaml: scenarios\.0\.samples: /);
      writeFileSync(join(dir, "big.yaml"), `# ${"x".repeat(1 << 20)}\n`);
      await expect(loadSuiteFile(join(dir, "big.yaml"))).rejects.toThrow(/bytes; a suite file may have at most 1048576/);
      rmSync(join(dir, "big.yaml"));
      writeFileSync(join(dir, "a.yaml"), "name: same\nscenarios:\n  - {scenario: x, samples: 1, seed: 1, criteria: {}}\n");
      writeFileSync(join(dir, "b.yaml"), "name: same\nscenarios:\n  - {scenario: y, samples: 1, seed: 1, criteria: {}}\n");
      await expect(loadSuiteLibrary(dir)).rejects.toThrow(SuiteLibraryError);
      await expect(loadSuiteLibrary(join(dir, "absent"))).resolves.toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
