// `rareforge generate` as a user runs it, with stderr piped (a log file, CI): plain progress lines and no
// native warnings from execution providers it was not asked for.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const scenario = join(root, "test/fixtures/tiny-model/scenarios/tiny-pedestrian-fog.yaml");
const model = join(root, "test/fixtures/tiny-model");
const out = mkdtempSync(join(tmpdir(), "rareforge-generate-"));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("rareforge generate on a pipe", () => {
  // the default --ep is auto, which on a host without Vulkan must not try webgpu
  const result = spawnSync(
    process.execPath,
    [join(root, "bin/rareforge.mjs"), "generate", "--scenario", scenario, "--model", model, "--count", "5", "--batch", "2", "--steps", "4", "--out", out],
    { encoding: "utf8", cwd: root },
  );

  it("writes one plain progress line per batch, with samples/s and ETA, and no cursor codes", () => {
    expect(result.status).toBe(0);
    const lines = result.stderr.split("\n").filter((line) => line.startsWith("rareforge: generate "));
    expect(lines.map((line) => line.split(" | ")[0])).toEqual([
      "rareforge: generate 2/5 samples",
      "rareforge: generate 4/5 samples",
      "rareforge: generate 5/5 samples",
    ]);
    for (const line of lines) expect(line).toMatch(/ \| step 4\/4 \| \d+\.\d\d samples\/s \| ETA \d+ s$/);
    expect(lines.at(-1)).toMatch(/ETA 0 s$/);
    expect(result.stderr).not.toMatch(/\u001b\[/);
  });

  it("auto prints no Vulkan warning where there is no Vulkan, and says which provider it chose", () => {
    expect(result.stderr).not.toMatch(/vulkan/i);
    expect(result.stderr).toMatch(/execution provider auto -> (cuda|webgpu|cpu)/);
  });
});

describe("rareforge generate --quality", () => {
  const dir = mkdtempSync(join(tmpdir(), "rareforge-generate-quality-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // a copy of the tiny model with fast settings (the fixture has none)
  const fastModel = join(dir, "tiny-fast");
  cpSync(model, fastModel, { recursive: true, filter: (source) => !source.includes("/latent") });
  writeFileSync(join(fastModel, "model.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(model, "model.json"), "utf8")), fast: { sampler: "euler", steps: 3, guidance: 2 } }));
  const generate = (modelDir: string, extra: string[]) =>
    spawnSync(process.execPath, [join(root, "bin/rareforge.mjs"), "generate", "--scenario", scenario, "--model", modelDir, "--count", "2", "--ep", "cpu", "--out", join(dir, `out-${extra.join("")}`), ...extra], { encoding: "utf8", cwd: root });

  it("fast samples with the model's fast settings and records quality fast; an explicit --steps still wins", () => {
    const fast = generate(fastModel, ["--quality", "fast"]);
    expect(fast.status, fast.stderr).toBe(0);
    const records = readFileSync(join(dir, "out---qualityfast", "records.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(records).toHaveLength(2);
    for (const r of records) expect(r).toMatchObject({ sampler: "euler", steps: 3, guidance: 2, quality: "fast" });
    const explicit = generate(fastModel, ["--quality", "fast", "--steps", "5"]);
    expect(explicit.status, explicit.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "out---qualityfast--steps5", "records.jsonl"), "utf8").split("\n")[0]!)).toMatchObject({ sampler: "euler", steps: 5, quality: "fast" });
  });

  it("refuses fast for a model without fast settings, and an unknown quality, naming the allowed ones", () => {
    const none = generate(model, ["--quality", "fast"]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/quality: model "tiny-model" has no fast sampling settings/);
    const unknown = generate(fastModel, ["--quality", "turbo"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown quality "turbo"; allowed: default, fast/);
  });
});
