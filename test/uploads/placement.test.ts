// A hazard stood on the road by distance: the box follows from a level pinhole camera over a flat road (contact
// row f·H/d below the horizon, height f·h/d) and the class's typical size; placements the camera cannot show are
// refused with a typed error, and an insertion by placement on a real frame keeps every other pixel.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { boxFromPlacement, decodeCameraFrame, InsertionRefusedError, ReferenceScanService, TYPICAL_SIZE_M, type CameraDescription } from "../../src/uploads/index.ts";
import { readSharedImage, sharedImagesAvailable } from "./helpers/shared-images.ts";
import { changedPixels } from "./helpers/pixels.ts";

// KITTI's left colour camera (raw calibration: fx 721.5 px, mounted 1.65 m above the road); the horizon row is
// where the lane lines of kitti_000007.png meet.
const KITTI: CameraDescription = { horizonRow: 180, heightM: 1.65, focalLengthPx: 721.5 };
const FRAME = { width: 1242, height: 375 };

const refusal = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return error instanceof InsertionRefusedError ? error.code : `untyped: ${String(error)}`;
  }
  return "accepted";
};

describe("boxFromPlacement", () => {
  it("stands the class's typical size on the road: contact row f·H/d below the horizon, f·h/d tall", () => {
    for (const distance of [8, 15, 30]) {
      const box = boxFromPlacement({ x: 600, distanceM: distance }, KITTI, "pedestrian", FRAME);
      const pixels = (metres: number) => (KITTI.focalLengthPx * metres) / distance;
      expect(box.y + box.height).toBe(Math.round(KITTI.horizonRow + pixels(KITTI.heightM)));
      expect(box.height).toBe(Math.round(pixels(TYPICAL_SIZE_M.pedestrian!.height)));
      expect(box.width).toBe(Math.round(pixels(TYPICAL_SIZE_M.pedestrian!.width)));
      expect(Math.abs(box.x + box.width / 2 - 600)).toBeLessThanOrEqual(0.5);
    }
    // twice as far: half the size, half as far below the horizon
    const near = boxFromPlacement({ x: 600, distanceM: 20 }, KITTI, "animal", FRAME);
    const far = boxFromPlacement({ x: 600, distanceM: 40 }, KITTI, "animal", FRAME);
    expect(far.height / near.height).toBeCloseTo(0.5, 1);
    expect((far.y + far.height - KITTI.horizonRow) / (near.y + near.height - KITTI.horizonRow)).toBeCloseTo(0.5, 1);
  });

  it("a contact row gives the same box as its distance", () => {
    const row = KITTI.horizonRow + (KITTI.focalLengthPx * KITTI.heightM) / 25;
    expect(boxFromPlacement({ x: 400, row }, KITTI, "vehicle", FRAME)).toEqual(boxFromPlacement({ x: 400, distanceM: 25 }, KITTI, "vehicle", FRAME));
  });

  it("refuses what the camera cannot show, with a typed code", () => {
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 20 }, null, "animal", FRAME))).toBe("CAMERA_REQUIRED");
    expect(refusal(() => boxFromPlacement({ x: 600, row: 150 }, KITTI, "animal", FRAME))).toBe("PLACEMENT"); // above the horizon
    expect(refusal(() => boxFromPlacement({ x: 600, row: 180 }, KITTI, "animal", FRAME))).toBe("PLACEMENT"); // on it
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 0 }, KITTI, "animal", FRAME))).toBe("PLACEMENT");
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 2 }, KITTI, "animal", FRAME))).toBe("PLACEMENT"); // nearer than the frame's bottom row
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 400 }, KITTI, "cone", FRAME))).toBe("REGION"); // too small to draw
    expect(refusal(() => boxFromPlacement({ x: 1240, distanceM: 15 }, KITTI, "vehicle", FRAME))).toBe("REGION"); // off the frame's edge
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 20, row: 300 }, KITTI, "animal", FRAME))).toBe("PLACEMENT");
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 20 }, { ...KITTI, focalLengthPx: -1 }, "animal", FRAME))).toBe("PLACEMENT");
    expect(refusal(() => boxFromPlacement({ x: 600, distanceM: 20 }, KITTI, "unicorn", FRAME))).toBe("PLACEMENT");
  });
});

describe.skipIf(!sharedImagesAvailable)("inserting by placement into the KITTI frame", () => {
  let dataDir: string;
  let db: Database;
  let store: ArtifactStore;
  let service: ReferenceScanService;
  let frameId: string;
  let frameSha: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-placement-"));
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    store = new ArtifactStore(path.join(dataDir, "artifacts"));
    service = new ReferenceScanService(db, store, { maxUploadBytes: 8 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: new URL("../../models/", import.meta.url).pathname, executionProvider: "cpu", onnxThreads: 1 });
    const frame = await service.upload(readSharedImage("kitti_000007.png"), { domain: "AUTOMOTIVE" });
    frameId = frame.id;
    frameSha = frame.artifact.sha256;
  }, 120_000);
  afterAll(async () => {
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a deer at 12, 25 and 50 m: the ground truth is the placed box, every pixel beyond it and its band is the source's", async () => {
    const source = decodeCameraFrame(new Uint8Array(readFileSync(store.pathOf(frameSha))), 40_000_000);
    for (const distanceM of [12, 25, 50]) {
      const expected = boxFromPlacement({ x: 560, distanceM }, KITTI, "animal", source);
      const insertion = await service.insertHazard({ referenceScanId: frameId, placement: { x: 560, distanceM }, camera: KITTI, parameters: { hazard: "animal", timeOfDay: "dusk" }, sampler: "ddim", steps: 8, guidance: 3, seed: 3, feather: 3 });
      expect((insertion.groundTruth as { box: unknown }).box, `${distanceM} m`).toEqual(expected);
      const output = decodeCameraFrame(new Uint8Array(readFileSync(store.pathOf(insertion.artifact.sha256))), 40_000_000);
      const { outside } = changedPixels(source.planes, output.planes, source.width, source.height, expected, 3);
      expect(outside, `${distanceM} m`).toBe(0);
    }
  }, 240_000);

  it("refuses a placement without a camera, and one above the horizon, storing nothing", async () => {
    const before = await db.prisma.hazardInsertion.count();
    const noCamera = await service.insertHazard({ referenceScanId: frameId, placement: { x: 560, distanceM: 20 }, parameters: { hazard: "animal" }, seed: 1 }).catch((e: unknown) => e);
    expect((noCamera as InsertionRefusedError).code).toBe("CAMERA_REQUIRED");
    const sky = await service.insertHazard({ referenceScanId: frameId, placement: { x: 560, row: 100 }, camera: KITTI, parameters: { hazard: "animal" }, seed: 1 }).catch((e: unknown) => e);
    expect((sky as InsertionRefusedError).code).toBe("PLACEMENT");
    expect(await db.prisma.hazardInsertion.count()).toBe(before);
  });
});
