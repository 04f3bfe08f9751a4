import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DicomError,
  MR_IMAGE_STORAGE,
  SECONDARY_CAPTURE_IMAGE_STORAGE,
  SEGMENTATION_STORAGE,
  generateUid,
  groundTruthDocument,
  lesionGroundTruth,
  maskFromRuns,
  readDicom,
  writeLesionSegmentation,
  type LesionGroundTruthDocument,
} from "../../src/imaging/dicom/index.ts";
import { dciodvfyAvailable, dcmdumpAvailable, pydicomPython, readWithPydicom, runDcmdump, runDciodvfy, skipMessage } from "./helpers/dicom-tools.ts";

const rows = 64;
const columns = 48;
const glioma = lesionGroundTruth({ label: "glioma", centre: { x: 30.5, y: 28.5 }, radius: 5 }, rows, columns);
const oedema = lesionGroundTruth({ label: "oedema", centre: { x: 10, y: 10 }, radius: 3.2 }, rows, columns);
const image = {
  studyUid: generateUid(),
  seriesUid: generateUid(),
  sopInstanceUid: generateUid(),
  sopClassUid: SECONDARY_CAPTURE_IMAGE_STORAGE,
  rows,
  columns,
  file: "sample-000007.dcm",
};
const geometry = {
  pixelSpacing: [0.9375, 0.9375] as [number, number],
  sliceThickness: 5,
  imagePositionPatient: [-120, -110, 32.5] as [number, number, number],
  imageOrientationPatient: [1, 0, 0, 0, 1, 0] as [number, number, number, number, number, number],
  frameOfReferenceUid: generateUid(),
};

describe("lesionGroundTruth", () => {
  it("masks the pixels whose centres lie within the radius, and boxes exactly those", () => {
    // Centre (30.5, 28.5) is pixel (row 28, column 30)'s centre; radius 5 reaches 5 pixels each way.
    expect(glioma.box).toEqual({ xMin: 25, yMin: 23, xMax: 36, yMax: 34 });
    expect(glioma.bbox).toEqual([25, 23, 11, 11]);
    expect(glioma.mask[28 * columns + 30]).toBe(1);
    expect(glioma.mask[28 * columns + 35]).toBe(1);
    expect(glioma.mask[28 * columns + 36]).toBe(0);
    expect(glioma.mask[23 * columns + 25]).toBe(0); // box corner, outside the disc
    // Integer lattice points within radius 5 of a point: 81 (Gauss circle problem, r = 5).
    expect(glioma.area).toBe(81);
    expect(glioma.mask.reduce((sum, value) => sum + value, 0)).toBe(81);
  });

  it("clips a lesion at the image edge and refuses one that covers no pixel", () => {
    const edge = lesionGroundTruth({ label: "edge", centre: { x: 0, y: 0 }, radius: 2 }, rows, columns);
    expect(edge.box).toEqual({ xMin: 0, yMin: 0, xMax: 2, yMax: 2 });
    expect(() => lesionGroundTruth({ label: "outside", centre: { x: -10, y: -10 }, radius: 2 }, rows, columns)).toThrow(DicomError);
    expect(() => lesionGroundTruth({ label: "empty", centre: { x: 5, y: 5 }, radius: 0 }, rows, columns)).toThrow(/positive radius/);
  });
});

describe("groundTruthDocument (the JSON beside the DICOM file)", () => {
  const document = groundTruthDocument(image, [glioma, oedema]);

  it("survives JSON and gives back the same boxes and masks", () => {
    const parsed = JSON.parse(JSON.stringify(document)) as LesionGroundTruthDocument;
    expect(parsed.format).toBe("rareforge.lesion-ground-truth");
    expect(parsed.image.sopInstanceUid).toBe(image.sopInstanceUid);
    expect(parsed.lesions.map((lesion) => lesion.label)).toEqual(["glioma", "oedema"]);
    expect(parsed.lesions[0]?.box).toEqual(glioma.box);
    expect(Array.from(maskFromRuns(parsed.lesions[0]?.maskRuns ?? [], rows, columns))).toEqual(Array.from(glioma.mask));
    expect(Array.from(maskFromRuns(parsed.lesions[1]?.maskRuns ?? [], rows, columns))).toEqual(Array.from(oedema.mask));
  });

  it("encodes the centre row of the glioma as one run from column 25 to 36", () => {
    expect(document.lesions[0]?.maskRuns).toContainEqual([28, 25, 36]);
  });
});

describe("writeLesionSegmentation (DICOM Segmentation, BINARY)", () => {
  const secondaryCaptureSeg = writeLesionSegmentation({ image, lesions: [glioma, oedema], seriesUid: generateUid(), instanceNumber: 1 });
  const mrSeg = writeLesionSegmentation({ image: { ...image, sopClassUid: MR_IMAGE_STORAGE, geometry }, lesions: [glioma], seriesUid: generateUid(), instanceNumber: 1 });

  it("stores one 1-bit frame per lesion that reads back as its mask", async () => {
    for (const [frame, lesion] of [glioma, oedema].entries()) {
      const read = await readDicom(secondaryCaptureSeg, { frame });
      expect(read.summary.sopClassUid).toBe(SEGMENTATION_STORAGE);
      expect(read.summary.modality).toBe("SEG");
      expect(read.numberOfFrames).toBe(2);
      expect(read.bitsAllocated).toBe(1);
      expect(Array.from(read.pixels)).toEqual(Array.from(lesion.mask));
    }
  });

  it("refuses a mask of the wrong size", () => {
    expect(() => writeLesionSegmentation({ image: { ...image, rows: 10 }, lesions: [glioma], seriesUid: generateUid(), instanceNumber: 1 })).toThrow(/has 3072 pixels/);
  });

  const directory = mkdtempSync(join(tmpdir(), "rareforge-seg-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  const files = [
    ["from-secondary-capture", secondaryCaptureSeg, [glioma, oedema]],
    ["from-mr-image", mrSeg, [glioma]],
  ] as const;
  const paths = files.map(([name, bytes, lesions]) => {
    const path = join(directory, `${name}.dcm`);
    writeFileSync(path, bytes);
    return [name, path, lesions] as const;
  });

  it.skipIf(!dciodvfyAvailable)("passes dciodvfy as a Segmentation", () => {
    for (const [name, path] of paths) {
      const verdict = runDciodvfy(path);
      expect(verdict.iod, name).toBe("Segmentation");
      expect(verdict.errors, `${name}:\n${verdict.output}`).toEqual([]);
    }
  });
  if (!dciodvfyAvailable) it.skip(skipMessage("dciodvfy", "dicom3tools"), () => undefined);

  it.skipIf(!dcmdumpAvailable)("is read by dcmdump with the whole bit-packed pixel data", () => {
    for (const [name, path, lesions] of paths) {
      const dump = runDcmdump(path);
      expect(dump.status, dump.output).toBe(0);
      const packedBytes = Math.ceil(Math.ceil((rows * columns * lesions.length) / 8) / 2) * 2;
      expect(dump.lines.get("7fe0,0010"), name).toMatch(new RegExp(`# *${packedBytes},`));
      expect(dump.lines.get("0062,0001"), name).toContain("[BINARY]");
    }
  });
  if (!dcmdumpAvailable) it.skip(skipMessage("dcmdump", "dcmtk"), () => undefined);

  it.skipIf(!pydicomPython)("is decoded by pydicom into the same masks", () => {
    for (const [name, path, lesions] of paths) {
      const reading = readWithPydicom(path);
      expect(reading.sopClassName, name).toBe("Segmentation Storage");
      expect(reading.pixels).toEqual(lesions.flatMap((lesion) => Array.from(lesion.mask)));
    }
  });
  if (!pydicomPython) it.skip(skipMessage("pydicom", "python3-pydicom"), () => undefined);
});
