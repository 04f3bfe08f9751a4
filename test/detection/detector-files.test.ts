// Registering a detector export by path (issue 18, item 8): only regular files inside the detectors
// directory are read, their size is checked before reading, and a refusal never tells a caller whether a
// path outside the directory exists. The registered file is checked again (path and sha256) at every load.
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { DetectorService, DetectorUnusableError } from "../../src/detection/index.ts";
import { createLogger } from "../../src/logger.ts";
import type { ScenarioSpec } from "../../src/scenarios/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
// The shipped road detector's graph, used here as a bare export (it has no Ultralytics metadata, so its classes are given).
const ROAD_ONNX = path.join(MODELS_DIR, "road-detector", "detector.onnx");
const ROAD_CLASSES = ["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"];

describe("registering a detector export by path", () => {
  let root: string;
  let detectorsDir: string;
  let db: Database;
  let service: DetectorService;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), "rareforge-detector-files-"));
    detectorsDir = path.join(root, "data", "detectors");
    mkdirSync(detectorsDir, { recursive: true });
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    const config = loadConfig({}, { dataDir: path.join(root, "data"), modelsDir: MODELS_DIR, logLevel: "silent" });
    expect(config.detectorsDir).toBe(detectorsDir); // the default: <data dir>/detectors
    service = new DetectorService(db, config, new ArtifactStore(path.join(root, "data", "artifacts")), createLogger("silent"));
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const refusal = async (given: string) => {
    const error = await service.register({ path: given, classes: ROAD_CLASSES }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DetectorUnusableError);
    return error as DetectorUnusableError;
  };
  const NOT_USABLE = (given: string) => `no usable detector file "${given}" in the detectors directory (RAREFORGE_DETECTORS_DIR): give the path of a regular ONNX file inside it`;

  it("registers a file inside the detectors directory, by a relative or an absolute path, and records its path relative to the directory", async () => {
    copyFileSync(ROAD_ONNX, path.join(detectorsDir, "road.onnx"));
    const relative = await service.register({ path: "road.onnx", classes: ROAD_CLASSES, name: "road-relative" });
    expect(relative.manifest).toMatchObject({ source: { kind: "ultralytics-onnx", path: "road.onnx" }, kind: "ultralytics-onnx" });
    expect(relative.classNames).toEqual(ROAD_CLASSES);
    const absolute = await service.register({ path: path.join(detectorsDir, "road.onnx"), classes: ROAD_CLASSES, name: "road-absolute" });
    expect(absolute.manifest).toMatchObject({ source: { path: "road.onnx" } });
  });

  it("refuses a FIFO inside the directory at once, with the same refusal as a missing file", async () => {
    const fifo = path.join(detectorsDir, "fifo.onnx");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const error = await refusal("fifo.onnx");
    expect(error.code).toBe("not-found");
    expect(error.message).toBe(NOT_USABLE("fifo.onnx"));
  });

  it("refuses a sparse 2 GiB file as too-large from its size, without reading it", async () => {
    const huge = path.join(detectorsDir, "huge.onnx");
    writeFileSync(huge, "");
    truncateSync(huge, 2 ** 31);
    const error = await refusal("huge.onnx");
    expect(error.code).toBe("too-large");
    expect(error.message).toMatch(/has 2147483648 bytes; the limit for a detector file is 536870912 \(RAREFORGE_MAX_DETECTOR_BYTES\)$/);
  });

  it("gives one refusal for paths outside the directory, whether they exist or not (absolute, ../, a symlink out, a directory)", async () => {
    const outside = path.join(root, "outside.onnx");
    copyFileSync(ROAD_ONNX, outside);
    symlinkSync(outside, path.join(detectorsDir, "link-out.onnx"));
    mkdirSync(path.join(detectorsDir, "sub"));
    const given = [outside, "/etc/passwd", "/nonexistent/model.onnx", "../../outside.onnx", "../../missing.onnx", "link-out.onnx", "sub", "/dev/zero"];
    for (const p of given) {
      const error = await refusal(p);
      expect({ path: p, code: error.code, message: error.message }).toEqual({ path: p, code: "not-found", message: NOT_USABLE(p) });
    }
    expect((await db.prisma.detectorPackage.findMany({ select: { name: true }, orderBy: { name: "asc" } })).map((d) => d.name)).toEqual(["road-absolute", "road-relative"]);
  });

  it("checks the registered file again before use: a changed file is refused, one replaced by a symlink out of the directory is not read", async () => {
    copyFileSync(ROAD_ONNX, path.join(detectorsDir, "later.onnx"));
    const row = await service.register({ path: "later.onnx", classes: ROAD_CLASSES, name: "road-later" });
    const spec = { name: "any", model: "road-hazards", parameters: {} } as unknown as ScenarioSpec;

    // still a readable ModelProto: an empty unknown field (number 99, length-delimited) appended
    appendFileSync(path.join(detectorsDir, "later.onnx"), Buffer.from([0x9a, 0x06, 0x00]));
    const changed = await service.checkForScenario(row.id, spec).catch((e: unknown) => e);
    expect(changed).toMatchObject({ code: "invalid-manifest" });
    expect((changed as Error).message).toMatch(/later\.onnx has changed since it was registered/);

    rmSync(path.join(detectorsDir, "later.onnx"));
    symlinkSync(path.join(root, "outside.onnx"), path.join(detectorsDir, "later.onnx"));
    const escaped = await service.checkForScenario(row.id, spec).catch((e: unknown) => e);
    expect(escaped).toMatchObject({ code: "not-found", message: NOT_USABLE("later.onnx") });
  });
});
