// `rareforge insert-hazard` runs locally: the PNG is the frame outside the box and its band, the JSON beside it
// is the ground truth, and a box outside the frame is refused with nothing written.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runInsertHazard } from "../../src/commands/insert-hazard.ts";
import { ValidationError } from "../../src/errors.ts";
import { boxFromPlacement, decodeCameraFrame, InsertionRefusedError } from "../../src/uploads/index.ts";
import { SHARED_IMAGES_DIR, sharedImagesAvailable } from "../uploads/helpers/shared-images.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;

describe.skipIf(!sharedImagesAvailable)("rareforge insert-hazard", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "rareforge-insert-hazard-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const options = (out: string, box: string) => ({ box, hazard: "cone", param: ["weather=rain"], model: "road-hazards", modelsDir: MODELS_DIR, steps: "8", seed: "2", feather: "3", ep: "cpu", out });

  it("writes the PNG and its ground truth", async () => {
    const frame = path.join(SHARED_IMAGES_DIR, "udacity_test2.jpg");
    const out = path.join(dir, "cone.png");
    await runInsertHazard(frame, options(out, "700,480,30,40"));
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8"))).toEqual({ class: "cone", box: { x: 700, y: 480, width: 30, height: 40 }, frame: { width: 1280, height: 720 } });
    const source = decodeCameraFrame(new Uint8Array(readFileSync(frame)), 40_000_000);
    const output = decodeCameraFrame(new Uint8Array(readFileSync(out)), 40_000_000);
    let outside = 0;
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < source.planes[c]!.length; i++) {
        const x = i % 1280;
        const y = Math.floor(i / 1280);
        if (x >= 697 && x < 733 && y >= 477 && y < 523) continue;
        if (source.planes[c]![i] !== output.planes[c]![i]) outside++;
      }
    expect(outside).toBe(0);
  }, 120_000);

  it("--at x,distance with --camera stands the hazard on the road: the box is boxFromPlacement's", async () => {
    const kitti = path.join(SHARED_IMAGES_DIR, "kitti_000007.png");
    const out = path.join(dir, "placed.png");
    const camera = { horizonRow: 180, heightM: 1.65, focalLengthPx: 721.5 };
    const { box: _box, ...rest } = options(out, "");
    await runInsertHazard(kitti, { ...rest, hazard: "animal", at: "560,25", camera: "180,1.65,721.5" });
    const frame = decodeCameraFrame(new Uint8Array(readFileSync(kitti)), 40_000_000);
    expect(JSON.parse(readFileSync(`${out}.json`, "utf8")).box).toEqual(boxFromPlacement({ x: 560, distanceM: 25 }, camera, "animal", frame));
    const noCamera = path.join(dir, "no-camera.png");
    const refused = await runInsertHazard(kitti, { ...rest, hazard: "animal", at: "560,25", out: noCamera }).catch((e: unknown) => e);
    expect((refused as InsertionRefusedError).code).toBe("CAMERA_REQUIRED");
    expect(existsSync(noCamera)).toBe(false);
    await expect(runInsertHazard(kitti, { ...rest, box: "1,1,20,20", at: "560,25", camera: "180,1.65,721.5" })).rejects.toBeInstanceOf(ValidationError);
  }, 120_000);

  it("refuses a box outside the frame and writes nothing", async () => {
    const out = path.join(dir, "refused.png");
    await expect(runInsertHazard(path.join(SHARED_IMAGES_DIR, "kitti_000007.png"), options(out, "1230,100,40,40"))).rejects.toBeInstanceOf(InsertionRefusedError);
    expect(existsSync(out)).toBe(false);
  });
});
