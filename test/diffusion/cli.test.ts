// `rareforge generate`: deterministic output, records, and clear refusals.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runGenerate, type GenerateOptions } from "../../src/commands/generate.ts";
import { readPngRecord } from "../../src/imaging/png.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const scenario = join(root, "test/fixtures/tiny-model/scenarios/tiny-pedestrian-fog.yaml");
const model = join(root, "test/fixtures/tiny-model");

const options = (out: string): GenerateOptions => ({
  scenario, model, count: 6, sampler: "dpmpp-2m", steps: 20, guidance: 3, seed: 7, batch: 4, ep: "cpu", out, progress: false, log: () => {},
});

describe("rareforge generate", () => {
  it("re-running with the same arguments gives byte-identical PNGs, and a JSON lines record per sample", async () => {
    const first = mkdtempSync(join(tmpdir(), "rareforge-gen-"));
    const second = mkdtempSync(join(tmpdir(), "rareforge-gen-"));
    await runGenerate(options(first));
    await runGenerate({ ...options(second), batch: 1 });
    const pngs = readdirSync(first).filter((f) => f.endsWith(".png")).sort();
    expect(pngs).toHaveLength(6);
    for (const png of pngs) expect(readFileSync(join(second, png)).equals(readFileSync(join(first, png)))).toBe(true);
    const records = readFileSync(join(first, "records.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(records[2]).toMatchObject({ sampler: "dpmpp-2m", steps: 20, guidance: 3, seed: 7, scenario: { name: "tiny-pedestrian-fog" } });
    expect(readPngRecord(readFileSync(join(first, pngs[2]!)))).toMatchObject({ index: 2, parameters: records[2]!.parameters });
  });

  it("sampler, steps and guidance left out are the model manifest's defaults", async () => {
    const out = mkdtempSync(join(tmpdir(), "rareforge-gen-"));
    const { sampler: _sampler, steps: _steps, guidance: _guidance, ...rest } = options(out);
    await runGenerate({ ...rest, count: 1 });
    const defaults = JSON.parse(readFileSync(join(model, "model.json"), "utf8")).defaults;
    const [record] = readFileSync(join(out, "records.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect({ sampler: record!.sampler, steps: record!.steps, guidance: record!.guidance }).toEqual(defaults);
  });

  it("the installed command refuses bad input with a clear message and exit code 1", () => {
    const out = mkdtempSync(join(tmpdir(), "rareforge-gen-"));
    const result = spawnSync(process.execPath, [join(root, "bin/rareforge.mjs"), "generate", "--scenario", scenario, "--model", model, "--steps", "0", "--ep", "cpu", "--out", out], {
      encoding: "utf8",
      cwd: root,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ValidationError: invalid sampling settings: steps: steps must be an integer in \[1, 1000\], got 0/);
    expect(readdirSync(out)).toEqual([]);
  });
});
