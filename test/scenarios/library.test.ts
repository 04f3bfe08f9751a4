// Every scenario shipped in scenarios/ is valid on its own and against the model it names.
import { describe, expect, it } from "vitest";
import { directoryModelCatalog } from "../../src/scenarios/index.ts";
import { checkScenarioAgainstModel, loadScenarioLibrary } from "../../src/scenarios/index.ts";
import { loadConfig } from "../../src/config.ts";

const config = loadConfig();
const library = await loadScenarioLibrary(config.scenariosDir);
const models = directoryModelCatalog(config.modelsDir);

describe("the scenario library", () => {
  it("has at least 12 automotive and 8 medical scenarios with unique names", () => {
    expect(library.filter((e) => e.spec.domain === "automotive").length).toBeGreaterThanOrEqual(12);
    expect(library.filter((e) => e.spec.domain === "medical").length).toBeGreaterThanOrEqual(8);
    expect(new Set(library.map((e) => e.spec.name)).size).toBe(library.length);
    for (const entry of library) expect(entry.file).toBe(`${entry.spec.name}.yaml`);
  });

  it.each(library.map((e) => [e.file, e] as const))("%s fits its model's condition layout", async (_file, entry) => {
    const layout = await models.layout(entry.spec.model);
    expect(layout, `model ${entry.spec.model} is installed`).toBeDefined();
    expect(checkScenarioAgainstModel(entry.spec, layout!)).toEqual([]);
    expect(entry.spec.description.length).toBeGreaterThan(10);
  });
});
