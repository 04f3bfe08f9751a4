// `rareforge generate` as a user runs it, with stderr piped (a log file, CI): plain progress lines and no
// native warnings from execution providers it was not asked for.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
