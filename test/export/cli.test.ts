// `rareforge export` as a user runs it: a real process over an embedded database, a zip on disk, and a typed
// refusal that leaves no file.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { strFromU8, unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseOptionsFromConfig, openDatabase } from "../../src/db/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { seedJob, type SeededJob } from "./seed.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

describe("rareforge export", () => {
  let dataDir: string;
  let road: SeededJob;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-export-cli-"));
    const db = await openDatabase(databaseOptionsFromConfig({ dataDir }));
    await db.migrate();
    road = await seedJob(db, artifactStoreFromConfig({ dataDir }), { scenario: "pedestrian-fog-motorway", count: 24, outcome: (i) => (i % 3 === 0 ? "MISS" : "HIT") });
    await db.close();
  });
  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli.ts"), "export", ...args], {
      cwd: ROOT,
      env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, LOG_LEVEL: "silent" },
      encoding: "utf8",
      timeout: 60_000,
    });

  it("writes the misses of a job as a YOLO zip and prints a summary", () => {
    const out = path.join(dataDir, "misses.zip");
    const run = cli("--format", "yolo", "--job", road.jobId, "--misses", "--split", "0.5,0.5,0", "--seed", "9", "--out", out);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const summary = JSON.parse(run.stdout);
    const misses = road.samples.filter((s) => s.outcome === "MISS");
    expect(summary).toMatchObject({ file: out, samples: misses.length });
    expect(summary.perSplit.test).toBe(0);
    const files = unzipSync(readFileSync(out));
    const labels = Object.keys(files).filter((n) => n.startsWith("labels/") && n.endsWith(".txt"));
    expect(labels.map((n) => path.basename(n, ".txt")).sort()).toEqual(misses.map((s) => s.id).sort());
    expect(strFromU8(files["data.yaml"]!)).toMatch(/names:\n\s+"?0"?: pedestrian/);
  });

  it("refuses a DICOM export of automotive samples with exit code 2 and writes nothing", () => {
    const out = path.join(dataDir, "refused.zip");
    const run = cli("--format", "dicom", "--job", road.jobId, "--out", out);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/ValidationError: .*dicom exports take medical samples only/);
    expect(readdirSync(dataDir).filter((n) => n.startsWith("refused"))).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it("names an unknown scenario", () => {
    const run = cli("--format", "coco", "--scenario", "no-such-scenario", "--out", path.join(dataDir, "x.zip"));
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/NotFoundError: scenario no-such-scenario not found/);
  });
});
