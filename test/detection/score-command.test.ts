// `rareforge score` on the real Ultralytics export and bus.jpg, and its refusals.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatScoreReport, parseExpectation, runScore } from "../../src/commands/score.ts";
import { ScoringInputError } from "../../src/detection/index.ts";
import { BUS_JPG, YOLOV8N_INT8, sharedDetectorAvailable } from "./helpers/shared-data.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("rareforge score", () => {
  it("parses --expect as a class and a centre/size box in image fractions, refusing anything else", () => {
    expect(parseExpectation("pedestrian:0.5,0.5,0.2,0.4", 100, 200)).toEqual({ class: "pedestrian", x: 40, y: 60, width: 20, height: 80 });
    for (const bad of ["pedestrian", "pedestrian:0.5,0.5,0.2", "pedestrian:0.5,0.5,0,0.4", "pedestrian:50,60,20,30"]) {
      expect(() => parseExpectation(bad, 100, 100), bad).toThrow(ScoringInputError);
    }
  });

  it.skipIf(!sharedDetectorAvailable)("scores bus.jpg: the bus and a pedestrian are HITs, an animal that is not there is a MISS", async () => {
    const report = await runScore({
      detector: YOLOV8N_INT8,
      image: BUS_JPG,
      expect: ["bus:0.5,0.46,0.97,0.5", "pedestrian:0.15,0.6,0.24,0.47"],
      threads: 1,
    });
    expect(report.score?.outcome).toBe("HIT");
    expect(report.score?.objects.map((o) => [o.object.class, o.outcome, o.detection?.class])).toEqual([
      ["bus", "HIT", "bus"],
      ["pedestrian", "HIT", "person"],
    ]);
    // the other people are not what was asked for
    expect(report.score?.falsePositives.every((d) => d.class === "person")).toBe(true);
    const text = formatScoreReport(report);
    expect(text).toContain("outcome HIT");
    expect(text).toMatch(/bus\s+0\.\d{3}/);

    const withAnimal = await runScore({ detector: YOLOV8N_INT8, image: BUS_JPG, expect: ["animal:0.9,0.2,0.1,0.1"], threads: 1 });
    expect(withAnimal.score?.outcome).toBe("MISS");
  });

  it.skipIf(!sharedDetectorAvailable)("the installed command prints detections, and refuses an unknown class map entry with exit code 1", () => {
    const ok = spawnSync(process.execPath, [join(root, "bin/rareforge.mjs"), "score", "--detector", YOLOV8N_INT8, "--image", BUS_JPG, "--threads", "1"], { encoding: "utf8", cwd: root });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/bus\s+0\.\d{3}/);
    const bad = spawnSync(
      process.execPath,
      [join(root, "bin/rareforge.mjs"), "score", "--detector", YOLOV8N_INT8, "--image", BUS_JPG, "--class-map", "animal=unicorn"],
      { encoding: "utf8", cwd: root },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("DetectorPackageError");
    expect(bad.stderr).toContain('"unicorn"');
  });
});
