// Inserting a road hazard into a real camera frame: the frame stays real outside the box and its feathered band
// (bit for bit), the ground truth is the requested box, the same request gives the same file, and refusals
// leave no row and no file behind.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { readPngRecord } from "../../src/imaging/index.ts";
import { generateSamples, openModelRuntime } from "../../src/diffusion/index.ts";
import { loadModelPackageAsync } from "../../src/models/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { decodeCameraFrame, InsertionRefusedError, ReferenceScanService, type FrameBox } from "../../src/uploads/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { readSharedDicom, sharedDicomAvailable } from "../imaging/helpers/shared-dicom.ts";
import { CAMERA_FRAMES, readSharedImage, sharedImagesAvailable } from "./helpers/shared-images.ts";
import { changedPixels, filesUnder } from "./helpers/pixels.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const FEATHER = 3;
const SAMPLING = { sampler: "ddim" as const, steps: 8, guidance: 3 };

/** Near, mid and far boxes of an animal on the road: the foot lower and the box larger the nearer it is. */
function boxesFor(width: number, height: number): Record<"near" | "mid" | "far", FrameBox> {
  const box = (h: number, aspect: number, cx: number, foot: number): FrameBox => {
    const bh = Math.round(h * height);
    const bw = Math.round(bh * aspect);
    return { x: Math.round(cx * width - bw / 2), y: Math.round(foot * height) - bh, width: bw, height: bh };
  };
  return { near: box(0.28, 1.4, 0.45, 0.95), mid: box(0.12, 1.4, 0.58, 0.75), far: box(0.05, 1.3, 0.5, 0.62) };
}

describe.skipIf(!sharedImagesAvailable)("inserting a hazard into real camera frames", () => {
  let dataDir: string;
  let db: Database;
  let store: ArtifactStore;
  let service: ReferenceScanService;
  const frames = new Map<string, { id: string; sha256: string }>();

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-hazard-"));
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    store = new ArtifactStore(path.join(dataDir, "artifacts"));
    service = new ReferenceScanService(db, store, { maxUploadBytes: 8 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: MODELS_DIR, executionProvider: "cpu", onnxThreads: 1 });
    for (const name of CAMERA_FRAMES) {
      const frame = await service.upload(readSharedImage(name), { domain: "AUTOMOTIVE" });
      frames.set(name, { id: frame.id, sha256: frame.artifact.sha256 });
    }
  }, 120_000);
  afterAll(async () => {
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const readStored = (sha256: string) => new Uint8Array(readFileSync(store.pathOf(sha256)));

  for (const name of CAMERA_FRAMES) {
    it(`${name}: near, mid and far animals change only the box and its band; the ground truth is the box`, async () => {
      const frame = frames.get(name)!;
      const source = decodeCameraFrame(readStored(frame.sha256), 40_000_000);
      for (const [distance, box] of Object.entries(boxesFor(source.width, source.height))) {
        const insertion = await service.insertHazard({ referenceScanId: frame.id, box, parameters: { hazard: "animal", weather: "clear", timeOfDay: "dusk" }, ...SAMPLING, seed: 7, feather: FEATHER });
        const outputBytes = readStored(insertion.artifact.sha256);
        const output = decodeCameraFrame(outputBytes, 40_000_000);
        expect([output.width, output.height], distance).toEqual([source.width, source.height]);
        const changed = changedPixels(source.planes, output.planes, source.width, source.height, box, FEATHER);
        expect(changed.outside, `${distance}: pixels changed outside box+feather`).toBe(0);
        expect(changed.inside, `${distance}: the hazard changed the box`).toBeGreaterThan(box.width * box.height * 0.2);
        expect(insertion.groundTruth).toEqual({ class: "animal", box, frame: { width: source.width, height: source.height } });
        const files = insertion.files as { role: string; sha256: string }[];
        expect(JSON.parse(readFileSync(store.pathOf(files.find((f) => f.role === "ground-truth")!.sha256), "utf8")).box).toEqual(box);
        // the box sits in the window where the condition says, at the window's scale
        const record = readPngRecord(outputBytes) as unknown as { hazardInsertion: { frame: { sha256: string }; cropWindow: { x: number; y: number; size: number }; scale: number }; parameters: Record<string, number> };
        const { cropWindow, scale } = record.hazardInsertion;
        expect(record.hazardInsertion.frame.sha256).toBe(frame.sha256);
        expect(scale).toBeCloseTo(64 / cropWindow.size, 10);
        expect(cropWindow.x + (insertion.parameters as Record<string, number>).hazardCx! * cropWindow.size).toBeCloseTo(box.x + box.width / 2, 6);
        expect(box.x >= cropWindow.x && box.y >= cropWindow.y && box.x + box.width <= cropWindow.x + cropWindow.size && box.y + box.height <= cropWindow.y + cropWindow.size).toBe(true);
      }
    }, 240_000);
  }

  it("the same frame, box, condition and seed give the same file; another seed another", async () => {
    const frame = frames.get(CAMERA_FRAMES[0]!)!;
    const request = { referenceScanId: frame.id, box: { x: 600, y: 420, width: 60, height: 44 }, parameters: { hazard: "pedestrian", weather: "fog" }, ...SAMPLING, feather: FEATHER };
    const first = await service.insertHazard({ ...request, seed: 11 });
    const again = await service.insertHazard({ ...request, seed: 11 });
    const other = await service.insertHazard({ ...request, seed: 12 });
    expect(again.artifact.sha256).toBe(first.artifact.sha256);
    expect(other.artifact.sha256).not.toBe(first.artifact.sha256);
    expect(again.id).not.toBe(first.id);
  }, 120_000);

  it("insertion adds little to the model's own sampling time (timing reported)", async () => {
    const frame = frames.get(CAMERA_FRAMES[0]!)!;
    const insertion = await service.insertHazard({ referenceScanId: frame.id, box: { x: 560, y: 440, width: 120, height: 86 }, parameters: { hazard: "animal" }, sampler: "ddim", steps: 50, guidance: 3, seed: 5, feather: FEATHER });
    const { totalMillis, onnxMillis } = insertion.timings;
    // the model's own sampling time for one sample with the same settings, in the same process
    const model = await loadModelPackageAsync(path.join(MODELS_DIR, "road-hazards"));
    const runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: 1 });
    const started = performance.now();
    await generateSamples({ model, runtime, sampler: "ddim", steps: 50, guidance: 3, seed: 5, indices: [0], parameters: [insertion.parameters as Record<string, string | number>], batchSize: 1 });
    const samplingMillis = performance.now() - started;
    await runtime.dispose();
    console.log(
      `hazard insertion into 1280x720: ${totalMillis.toFixed(0)} ms (${onnxMillis.toFixed(0)} ms in onnxruntime); the model's own sampling of one sample: ${samplingMillis.toFixed(0)} ms; insertion adds ${(((totalMillis - samplingMillis) / samplingMillis) * 100).toFixed(1)} % (50 DDIM steps, guidance 3, 1 thread)`,
    );
    expect(onnxMillis).toBeGreaterThan(0);
  }, 120_000);

  describe("refusals store nothing", () => {
    const refused = async (attempt: () => Promise<unknown>, check: (error: unknown) => void) => {
      const rows = await db.prisma.hazardInsertion.count();
      const artifacts = await db.prisma.artifact.count();
      const files = filesUnder(path.join(dataDir, "artifacts")).length;
      const error = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      check(error);
      expect(await db.prisma.hazardInsertion.count()).toBe(rows);
      expect(await db.prisma.artifact.count()).toBe(artifacts);
      expect(filesUnder(path.join(dataDir, "artifacts")).length).toBe(files);
    };
    const code = (expected: string) => (error: unknown) => {
      expect(error).toBeInstanceOf(InsertionRefusedError);
      expect((error as InsertionRefusedError).code).toBe(expected);
    };
    const base = () => ({ referenceScanId: frames.get(CAMERA_FRAMES[0]!)!.id, box: { x: 600, y: 420, width: 60, height: 44 }, parameters: { hazard: "animal" }, ...SAMPLING, seed: 1 });

    it("a box outside the frame, or smaller than the minimum", async () => {
      await refused(() => service.insertHazard({ ...base(), box: { x: 1250, y: 420, width: 60, height: 44 } }), code("REGION"));
      await refused(() => service.insertHazard({ ...base(), box: { x: 600, y: 420, width: 5, height: 44 } }), code("REGION"));
      await refused(() => service.insertHazard({ ...base(), box: { x: -1, y: 420, width: 20, height: 20 } }), code("REGION"));
    });

    it("an unknown hazard class, or none", async () => {
      for (const hazard of ["unicorn", "none"]) {
        await refused(
          () => service.insertHazard({ ...base(), parameters: { hazard } }),
          (error) => {
            expect(error).toBeInstanceOf(ValidationError);
            expect((error as ValidationError).issues[0]!.path).toBe("parameters.hazard");
            expect((error as ValidationError).issues[0]!.message).toMatch(/pedestrian, cyclist, animal/);
          },
        );
      }
    });

    it("a model that cannot inpaint a hazard (medical, or not loadable)", async () => {
      await refused(() => service.insertHazard({ ...base(), model: "brain-mri" }), code("MODEL_UNSUITABLE"));
      await refused(() => service.insertHazard({ ...base(), model: "no-such-model" }), code("MODEL_UNSUITABLE"));
    });

    it("a frame uploaded as medical data", async () => {
      const medical = await service.upload(encodePng({ width: 64, height: 64, channels: 3, depth: 8, data: new Uint8Array(64 * 64 * 3).fill(80) }));
      expect(medical.domain).toBe("MEDICAL");
      await refused(() => service.insertHazard({ ...base(), referenceScanId: medical.id, box: { x: 10, y: 10, width: 20, height: 20 } }), code("FRAME_NOT_AUTOMOTIVE"));
    });

    it.skipIf(!sharedDicomAvailable)("a DICOM scan", async () => {
      const scan = await service.upload(readSharedDicom("MR_small.dcm"));
      await refused(() => service.insertHazard({ ...base(), referenceScanId: scan.id, box: { x: 10, y: 10, width: 20, height: 20 } }), code("FRAME_IS_DICOM"));
      await expect(service.upload(readSharedDicom("MR_small.dcm"), { domain: "AUTOMOTIVE" })).rejects.toThrow(/medical scan/);
    });
  });
});
