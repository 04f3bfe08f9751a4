// `rareforge generate` with a users' Optimum export as the model: a scenario file with its own prompt template,
// PNGs whose embedded records carry the drawn prompts.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGenerate } from "../../src/commands/generate.ts";
import { readPngRecord } from "../../src/imaging/index.ts";
import { installExport, roadManifest } from "../diffusion/optimum/install.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "rareforge-generate-optimum-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("rareforge generate with an Optimum export", () => {
  it("draws each sample's prompt from the scenario's template into its PNG record", async () => {
    const modelsDir = join(root, "models");
    await installExport("tiny-sd", modelsDir, roadManifest("tiny-sd"));
    const scenario = join(root, "deer.yaml");
    await writeFile(
      scenario,
      ["name: deer-at-dusk", "domain: automotive", "model: tiny-sd", "parameters:", "  hazard: animal", "  timeOfDay: dusk", "  weather: { kind: choice, values: [fog, snow] }", "prompt:", '  template: "a deer on a country road at {timeOfDay}, {weather}"', ""].join("\n"),
    );
    const summary = await runGenerate({ scenario, modelsDir, count: 3, seed: 2, batch: 2, steps: 3, ep: "cpu", out: join(root, "out"), progress: false, log: () => {} });
    expect(summary.files).toHaveLength(3);
    for (const file of summary.files) {
      const record = readPngRecord(await readFile(file)) as unknown as { parameters: { weather: string }; prompt: { text: string; negative: string } };
      expect(record.prompt).toEqual({ text: `a deer on a country road at dusk, ${record.parameters.weather}`, negative: "" });
    }
  });
});
