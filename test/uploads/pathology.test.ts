// Inserting a pathology into an uploaded scan: only the region's neighbourhood changes, the output is a
// conformant DICOM in the source's study that references the source, and refusals leave nothing behind.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dcmjs from "dcmjs";
import dicomParser from "dicom-parser";
import { encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { readDicom } from "../../src/imaging/dicom/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { InsertionRefusedError, ReferenceScanService } from "../../src/uploads/index.ts";
import { checkConformance } from "../imaging/helpers/conformance.ts";
import { pngDeclaring } from "../imaging/helpers/forged-images.ts";
import { readSharedDicom, sharedDicomAvailable, SKIP_SHARED_DICOM_MESSAGE } from "../imaging/helpers/shared-dicom.ts";
import { changedPixels, filesUnder } from "./helpers/pixels.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;

describe.skipIf(!sharedDicomAvailable)("inserting a pathology into MR_small", () => {
  let dataDir: string;
  let db: Database;
  let store: ArtifactStore;
  let service: ReferenceScanService;
  let scan: Awaited<ReturnType<ReferenceScanService["upload"]>>;
  const box = { x: 22, y: 26, width: 12, height: 10 };
  const feather = 3;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-insert-"));
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    store = new ArtifactStore(path.join(dataDir, "artifacts"));
    service = new ReferenceScanService(db, store, { maxUploadBytes: 1 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: MODELS_DIR, executionProvider: "cpu", onnxThreads: 1 });
    scan = await service.upload(readSharedDicom("MR_small.dcm"));
  });
  afterAll(async () => {
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const insert = (overrides: Partial<Parameters<ReferenceScanService["insertPathology"]>[0]> = {}) =>
    service.insertPathology({
      referenceScanId: scan.id,
      region: { kind: "box", ...box },
      parameters: { pathology: "tumour", lesionContrast: 1 },
      sampler: "ddim",
      steps: 12,
      guidance: 3,
      seed: 3,
      feather,
      ...overrides,
    });

  it("changes pixels only within the region and its feathered band, and references the de-identified source", async () => {
    const insertion = await insert();
    const source = await readDicom(readSharedDicom("MR_small.dcm"));
    const outputBytes = new Uint8Array(await import("node:fs").then((fs) => fs.readFileSync(store.pathOf(insertion.artifact.sha256))));
    const output = await readDicom(outputBytes);
    expect([output.rows, output.columns]).toEqual([source.rows, source.columns]);

    // Outside the box dilated by the feather band: every pixel is the source's. Inside: the lesion.
    const changed = changedPixels([source.pixels], [output.pixels], source.columns, source.rows, box, feather);
    expect(changed.outside).toBe(0);
    expect(changed.inside).toBeGreaterThan((box.width * box.height) / 2);
    // The measure can fail: one band narrower, and the blended band shows up as changes outside it.
    expect(changedPixels([source.pixels], [output.pixels], source.columns, source.rows, box, 0).outside).toBeGreaterThan(0);

    // Source Image Sequence -> the de-identified source; same (de-identified) study, new series; synthetic.
    const dataSet = dicomParser.parseDicom(outputBytes);
    const sourceItem = dataSet.elements.x00082112?.items?.[0]?.dataSet;
    expect(sourceItem?.string("x00081155")).toBe(scan.sopInstanceUid);
    expect(sourceItem?.string("x00081150")).toBe(scan.sopClassUid);
    expect(dataSet.string("x0020000d")).toBe(scan.studyInstanceUid);
    expect(dataSet.string("x0020000e")).not.toBe(scan.seriesInstanceUid);
    expect(dataSet.string("x0008001c")).toBe("YES");
    expect(dataSet.string("x00100020")).toBe(dicomParser.parseDicom(await import("node:fs").then((fs) => fs.readFileSync(store.pathOf(scan.artifact.sha256)))).string("x00100020"));
    // The scan's own value range is what was stretched over the model's stored range.
    const scanRange = [Math.min(...source.pixels), Math.max(...source.pixels)];
    expect(JSON.parse(dataSet.string("x00091001") ?? "{}")).toMatchObject({ parameters: { pathology: "tumour" }, pathologyInsertion: { id: insertion.id, referenceScan: { id: scan.id }, scanToStoredRange: scanRange } });

    // The lesion defaults to the region: its ground truth lies inside the box.
    const files = insertion.files as { role: string; sha256: string }[];
    expect(files.map((f) => f.role)).toEqual(["preview", "ground-truth", "segmentation"]);
    const groundTruth = JSON.parse(await import("node:fs").then((fs) => fs.readFileSync(store.pathOf(files[1]!.sha256), "utf8")));
    expect(groundTruth.image.sopInstanceUid).toBe(dataSet.string("x00080018"));
    const lesionBox = groundTruth.lesions[0].box;
    expect(lesionBox.xMin).toBeGreaterThanOrEqual(box.x - 1);
    expect(lesionBox.xMax).toBeLessThanOrEqual(box.x + box.width + 1);

    // The output and its segmentation pass the third-party checks.
    for (const [role, sha256, iod] of [["image", insertion.artifact.sha256, "MRImage"], ["segmentation", files[2]!.sha256, "Segmentation"]] as const) {
      const report = checkConformance(store.pathOf(sha256));
      expect(report.problems, role).toEqual([]);
      if (report.iod !== undefined) expect(report.iod, role).toBe(iod);
      if (role === "image" && report.pydicomPixels) expect(report.pydicomPixels).toEqual(Array.from(output.pixels));
    }
  });

  it("accepts a mask image of the scan's size as the region", async () => {
    const mask = new Uint8Array(64 * 64);
    for (let r = 30; r < 38; r++) for (let c = 14; c < 22; c++) mask[r * 64 + c] = 255;
    const insertion = await insert({ region: { kind: "mask-image", bytes: encodePng({ width: 64, height: 64, channels: 1, depth: 8, data: mask }) }, feather: 2 });
    const source = await readDicom(readSharedDicom("MR_small.dcm"));
    const output = await readDicom(new Uint8Array(await import("node:fs").then((fs) => fs.readFileSync(store.pathOf(insertion.artifact.sha256)))));
    const changed = changedPixels([source.pixels], [output.pixels], 64, 64, { x: 14, y: 30, width: 8, height: 8 }, 2);
    expect(changed.outside).toBe(0);
    expect(changed.inside).toBeGreaterThan(20);
    expect(insertion.region).toMatchObject({ kind: "mask", pixels: 64 });
  });

  it("regenerates only the lesion's disc (with its margin) inside a larger region; the rest of the region keeps the scan", async () => {
    // A 48x48 region with a small lesion placed at its centre: radius 0.06 x 64 = 3.84 px, 1.3 margin -> 5 px.
    const region = { x: 8, y: 8, width: 48, height: 48 };
    const insertion = await insert({ region: { kind: "box", ...region }, parameters: { pathology: "tumour", lesionContrast: 1, lesionX: 0.5, lesionY: 0.5, lesionRadius: 0.06 } });
    const source = await readDicom(readSharedDicom("MR_small.dcm"));
    const output = await readDicom(new Uint8Array(readFileSync(store.pathOf(insertion.artifact.sha256))));
    // Feathered band: chessboard distance <= feather from the disc, so Euclidean <= feather x sqrt(2) beyond it.
    const reach = 0.06 * 64 * 1.3 + feather * Math.SQRT2 + 1;
    let nearLesion = 0;
    let elsewhereInRegion = 0;
    let regionPixelsFarFromLesion = 0;
    for (let r = 0; r < 64; r++) {
      for (let c = 0; c < 64; c++) {
        const far = Math.hypot(c + 0.5 - 32, r + 0.5 - 32) > reach;
        const inRegion = c >= region.x && c < region.x + region.width && r >= region.y && r < region.y + region.height;
        if (far && inRegion) regionPixelsFarFromLesion++;
        if (source.pixels[r * 64 + c] === output.pixels[r * 64 + c]) continue;
        if (far) elsewhereInRegion++;
        else nearLesion++;
      }
    }
    expect(regionPixelsFarFromLesion).toBeGreaterThan(1500);
    expect(elsewhereInRegion).toBe(0);
    expect(nearLesion).toBeGreaterThan(Math.PI * 3.84 * 3.84);
    expect(insertion.region).toEqual({ kind: "box", ...region });
  });

  it("records the whole mask region, not just the part the lesion replaced", async () => {
    const mask = new Uint8Array(64 * 64);
    for (let r = 20; r < 40; r++) for (let c = 20; c < 40; c++) mask[r * 64 + c] = 255;
    const bytes = encodePng({ width: 64, height: 64, channels: 1, depth: 8, data: mask });
    const insertion = await insert({ region: { kind: "mask-image", bytes }, parameters: { pathology: "haemorrhage", lesionContrast: 1, lesionX: 0.47, lesionY: 0.47, lesionRadius: 0.04 } });
    expect(insertion.region).toMatchObject({ kind: "mask", pixels: 400 });
  });

  it("refuses a lesion placed outside the region and a flat scan, writing nothing", async () => {
    const filesBefore = filesUnder(path.join(dataDir, "artifacts")).length;
    const rowsBefore = await db.prisma.pathologyInsertion.count();

    const away = await insert({ parameters: { pathology: "tumour", lesionContrast: 1, lesionX: 0.85, lesionY: 0.15, lesionRadius: 0.05 } }).catch((e: unknown) => e);
    expect(away).toBeInstanceOf(InsertionRefusedError);
    expect((away as InsertionRefusedError).code).toBe("REGION");
    expect((away as Error).message).toMatch(/does not overlap the region/);

    // MR_small with every pixel set to one value: nothing to map onto the model's range.
    const dicom = dcmjs.data.DicomMessage.readFile(readSharedDicom("MR_small.dcm").slice().buffer as ArrayBuffer);
    dicom.dict["7FE00010"]!.Value = [new Uint16Array(64 * 64).fill(700).buffer];
    const flat = await service.upload(new Uint8Array(dicom.write()));
    const filesWithFlat = filesUnder(path.join(dataDir, "artifacts")).length;
    expect(filesWithFlat).toBe(filesBefore + 1);
    const refused = await insert({ referenceScanId: flat.id }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InsertionRefusedError);
    expect((refused as InsertionRefusedError).code).toBe("SCAN_UNSUPPORTED");
    expect((refused as Error).message).toMatch(/flat image \(every pixel 700\)/);

    expect(await db.prisma.pathologyInsertion.count()).toBe(rowsBefore);
    expect(filesUnder(path.join(dataDir, "artifacts")).length).toBe(filesWithFlat);
  });

  it("refuses a region outside the scan, a PNG scan and an unknown sampler before writing anything", async () => {
    const filesBefore = filesUnder(path.join(dataDir, "artifacts")).length;
    const rowsBefore = await db.prisma.pathologyInsertion.count();
    const outside = await insert({ region: { kind: "box", x: 60, y: 60, width: 10, height: 10 } }).catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(InsertionRefusedError);
    expect((outside as InsertionRefusedError).code).toBe("REGION");
    expect((outside as Error).message).toMatch(/does not fit the 64x64 scan/);

    const png = await service.upload(encodePng({ width: 8, height: 8, channels: 1, depth: 8, data: new Uint8Array(64) }));
    const notDicom = await insert({ referenceScanId: png.id }).catch((e: unknown) => e);
    expect((notDicom as InsertionRefusedError).code).toBe("SCAN_NOT_DICOM");

    const sampler = await insert({ sampler: "magic" }).catch((e: unknown) => e);
    expect((sampler as Error).name).toBe("ValidationError");
    expect((sampler as Error).message).toMatch(/sampler/);

    const pathology = await insert({ parameters: { pathology: "dragon" } }).catch((e: unknown) => e);
    expect((pathology as Error).name).toBe("ValidationError");

    expect(await db.prisma.pathologyInsertion.count()).toBe(rowsBefore);
    // Only the PNG scan's file was added.
    expect(filesUnder(path.join(dataDir, "artifacts")).length).toBe(filesBefore + 1);
  });

  it("refuses a small mask whose PNG header declares 20000x20000 from its header, naming the size and the limit", async () => {
    const rowsBefore = await db.prisma.pathologyInsertion.count();
    const refused = await insert({ region: { kind: "mask-image", bytes: pngDeclaring(20000, 20000) } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InsertionRefusedError);
    expect((refused as InsertionRefusedError).code).toBe("REGION");
    expect((refused as Error).message).toBe("region mask is 20000x20000 (400000000 pixels); the limit is 40000000 pixels (RAREFORGE_MAX_IMAGE_PIXELS)");
    // under the limit but not the scan's size: refused from the header too
    const wrongSize = await insert({ region: { kind: "mask-image", bytes: pngDeclaring(4000, 4000) } }).catch((e: unknown) => e);
    expect((wrongSize as Error).message).toBe("region mask is 4000x4000; the scan is 64x64");
    expect(await db.prisma.pathologyInsertion.count()).toBe(rowsBefore);
  });

  it("refuses a model name that is a path (../../../etc) as MODEL_UNSUITABLE without looking outside the models directory", async () => {
    const refused = await insert({ model: "../../../etc" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InsertionRefusedError);
    expect((refused as InsertionRefusedError).code).toBe("MODEL_UNSUITABLE");
    expect((refused as Error).message).toMatch(/"\.\.\/\.\.\/\.\.\/etc" is not a model package name/);
    expect((refused as Error).message).not.toMatch(/model\.json/);
  });
});

if (!sharedDicomAvailable) describe.skip(SKIP_SHARED_DICOM_MESSAGE, () => undefined);
void writeFileSync;
