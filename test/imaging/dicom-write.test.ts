import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dcmjs from "dcmjs";
import { afterAll, describe, expect, it } from "vitest";
import {
  DicomError,
  MR_IMAGE_STORAGE,
  SECONDARY_CAPTURE_IMAGE_STORAGE,
  UID_ROOT,
  generateUid,
  isValidUid,
  readDicom,
  readProvenanceRecord,
  windowForRange,
  windowFromPixels,
  writeSyntheticDicom,
  type SyntheticDicomInput,
} from "../../src/imaging/dicom/index.ts";
import { RAREFORGE_VERSION } from "../../src/version.ts";
import { dciodvfyAvailable, dcmdumpAvailable, pydicomPython, readWithPydicom, runDcmdump, runDciodvfy, skipMessage } from "./helpers/dicom-tools.ts";

const rows = 64;
const columns = 48;

/** A brain-like test pattern: a bright disc with a darker lesion, covering most of the 16-bit range. */
function syntheticSlice(): Uint16Array {
  const pixels = new Uint16Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const inBrain = (row - 32) ** 2 + (column - 24) ** 2 < 22 ** 2;
      const inLesion = (row - 28) ** 2 + (column - 30) ** 2 < 5 ** 2;
      pixels[row * columns + column] = inLesion ? 60000 : inBrain ? 1200 + ((row * 7 + column * 13) % 400) : (row + column) % 3;
    }
  }
  return pixels;
}

const provenance = {
  scenario: { name: "glioma-small", version: 3 },
  model: { name: "brain-mr-ddpm", version: "0.1.0", files: { "denoiser.onnx": "ab12" } },
  sampler: { name: "ddim", steps: 50, guidance: 3.5 },
  seed: 1234,
  parameters: { lesionCentre: [28, 30], lesionRadius: 5, note: 'T1 — "contrast" enhanced', weightsPath: "C:\\models\\brain" },
  rareforgeVersion: RAREFORGE_VERSION,
};

function input(overrides: Partial<SyntheticDicomInput> = {}): SyntheticDicomInput {
  return {
    pixels: syntheticSlice(),
    rows,
    columns,
    modality: "MR",
    windowCenter: 1400,
    windowWidth: 800,
    studyUid: generateUid(),
    seriesUid: generateUid(),
    instanceNumber: 7,
    provenance,
    model: { name: "brain-mr-ddpm", version: "0.1.0" },
    createdAt: new Date("2026-11-25T06:00:00Z"),
    ...overrides,
  };
}

const mrGeometry = {
  pixelSpacing: [0.9375, 0.9375] as [number, number],
  sliceThickness: 5,
  imagePositionPatient: [-120, -110, 32.5] as [number, number, number],
  imageOrientationPatient: [1, 0, 0, 0, 1, 0] as [number, number, number, number, number, number],
  frameOfReferenceUid: generateUid(),
};

const referenceScan = { sopClassUid: MR_IMAGE_STORAGE, sopInstanceUid: generateUid() };

function dcmjsRead(bytes: Uint8Array): Record<string, { vr: string; Value?: unknown[] }> {
  const copy = bytes.slice().buffer;
  return dcmjs.data.DicomMessage.readFile(copy).dict as Record<string, { vr: string; Value?: unknown[] }>;
}
function first(dataSet: Record<string, { Value?: unknown[] }>, tag: string): unknown {
  return dataSet[tag]?.Value?.[0];
}

describe("writeSyntheticDicom", () => {
  it("round-trips: readDicom gives back the same 16-bit pixels, window and UIDs", async () => {
    const sample = input({ source: referenceScan });
    const image = await readDicom(writeSyntheticDicom(sample));
    expect(Array.from(image.pixels)).toEqual(Array.from(sample.pixels));
    expect([image.rows, image.columns, image.bitsAllocated, image.bitsStored, image.pixelRepresentation]).toEqual([rows, columns, 16, 16, 0]);
    expect(image.photometricInterpretation).toBe("MONOCHROME2");
    expect([image.windowCenter, image.windowWidth]).toEqual([1400, 800]);
    expect(image.summary).toMatchObject({
      studyInstanceUid: sample.studyUid,
      seriesInstanceUid: sample.seriesUid,
      modality: "MR",
      instanceNumber: 7,
      syntheticData: "YES",
      manufacturer: "RareForge",
      imageType: ["DERIVED", "SECONDARY"],
    });
  });

  it("writes Secondary Capture without geometry and MR Image with it", async () => {
    const secondary = await readDicom(writeSyntheticDicom(input()));
    expect(secondary.summary.sopClassUid).toBe(SECONDARY_CAPTURE_IMAGE_STORAGE);
    const mr = await readDicom(writeSyntheticDicom(input({ geometry: mrGeometry })));
    expect(mr.summary.sopClassUid).toBe(MR_IMAGE_STORAGE);
    expect(mr.summary.pixelSpacing).toEqual([0.9375, 0.9375]);
    expect(mr.summary.imagePositionPatient).toEqual([-120, -110, 32.5]);
  });

  it("gives each sample a fresh SOP Instance UID under 2.25 and keeps the job's study and series", async () => {
    const job = { studyUid: generateUid(), seriesUid: generateUid() };
    const a = await readDicom(writeSyntheticDicom(input({ ...job, instanceNumber: 1 })));
    const b = await readDicom(writeSyntheticDicom(input({ ...job, instanceNumber: 2 })));
    expect(a.summary.sopInstanceUid).not.toBe(b.summary.sopInstanceUid);
    expect(a.summary.sopInstanceUid?.startsWith(`${UID_ROOT}.`)).toBe(true);
    expect(isValidUid(a.summary.sopInstanceUid ?? "")).toBe(true);
    expect([a.summary.studyInstanceUid, a.summary.seriesInstanceUid]).toEqual([job.studyUid, job.seriesUid]);
    expect([b.summary.studyInstanceUid, b.summary.seriesInstanceUid]).toEqual([job.studyUid, job.seriesUid]);
  });

  it("records the synthesis: Contributing Equipment (109100, DCM) naming RareForge and its version, Burned In Annotation NO", () => {
    const dataSet = dcmjsRead(writeSyntheticDicom(input()));
    const equipment = dataSet["0018A001"]?.Value?.[0] as Record<string, { Value?: unknown[] }>;
    const purpose = equipment["0040A170"]?.Value?.[0] as Record<string, { Value?: unknown[] }>;
    expect([first(purpose, "00080100"), first(purpose, "00080102"), first(purpose, "00080104")]).toEqual(["109100", "DCM", "Synthesizing Equipment"]);
    expect(first(equipment, "00080070")).toBe("RareForge");
    expect(first(equipment, "00181020")).toBe(RAREFORGE_VERSION);
    expect(first(dataSet, "00280301")).toBe("NO");
    expect(first(dataSet, "0008001C")).toBe("YES");
  });

  it("carries the provenance record: summarised in Derivation Description, whole in the private block", () => {
    const bytes = writeSyntheticDicom(input());
    const dataSet = dcmjsRead(bytes);
    expect(first(dataSet, "00090010")).toBe("RAREFORGE");
    // Quotes and backslashes in the record survive (JSON escapes them with backslashes).
    expect(readProvenanceRecord(bytes)).toEqual(provenance);
    const description = String(first(dataSet, "00082111"));
    expect(description.length).toBeLessThanOrEqual(1024);
    expect(description).toContain(`RareForge ${RAREFORGE_VERSION}`);
    expect(description).toContain('"seed":1234');
  });

  it("keeps Derivation Description within 1024 characters for a long record", () => {
    const long = { ...provenance, timings: Array.from({ length: 400 }, (_, step) => ({ step, ms: step * 1.5 })) };
    const bytes = writeSyntheticDicom(input({ provenance: long }));
    expect(String(first(dcmjsRead(bytes), "00082111")).length).toBeLessThanOrEqual(1024);
    expect(readProvenanceRecord(bytes)).toEqual(long);
  });

  it("references the source scan in Source Image Sequence only when there is one", () => {
    const withSource = dcmjsRead(writeSyntheticDicom(input({ source: referenceScan })));
    const item = withSource["00082112"]?.Value?.[0] as Record<string, { Value?: unknown[] }>;
    expect([first(item, "00081150"), first(item, "00081155")]).toEqual([referenceScan.sopClassUid, referenceScan.sopInstanceUid]);
    expect(dcmjsRead(writeSyntheticDicom(input()))["00082112"]).toBeUndefined();
  });

  it.each<[string, Partial<SyntheticDicomInput>, RegExp]>([
    ["pixels of the wrong length", { pixels: new Uint16Array(10) }, /rows × columns/],
    ["a malformed study UID", { studyUid: "1.2.03" }, /studyUid is not a valid UID/],
    ["a lower-case modality", { modality: "mr" }, /modality/],
    ["a zero window width", { windowWidth: 0 }, /windowWidth/],
    ["an MR Image without geometry", { iod: "mr-image" }, /needs geometry/],
  ])("refuses %s with INVALID_INPUT", (_, overrides, message) => {
    let thrown: unknown;
    try {
      writeSyntheticDicom(input(overrides));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DicomError);
    expect((thrown as DicomError).code).toBe("INVALID_INPUT");
    expect((thrown as DicomError).message).toMatch(message);
  });
});

describe("generateUid", () => {
  it("writes a UUID as one decimal integer under 2.25, unique and valid", () => {
    const uids = new Set(Array.from({ length: 1000 }, generateUid));
    expect(uids.size).toBe(1000);
    for (const uid of uids) {
      expect(uid).toMatch(/^2\.25\.[1-9]\d*$/);
      expect(uid.length).toBeLessThanOrEqual(64);
    }
  });
});

describe("files RareForge writes, checked by third-party DICOM tools", () => {
  const directory = mkdtempSync(join(tmpdir(), "rareforge-dicom-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  const variants: [string, SyntheticDicomInput][] = [
    ["secondary-capture", input({ source: referenceScan })],
    ["mr-image", input({ geometry: mrGeometry, source: referenceScan })],
  ];
  const files = variants.map(([name, sample]) => {
    const path = join(directory, `${name}.dcm`);
    writeFileSync(path, writeSyntheticDicom(sample));
    return [name, path, sample] as const;
  });

  it.skipIf(!dciodvfyAvailable)("dciodvfy (dicom3tools) finds no errors", () => {
    for (const [name, path] of files) {
      const verdict = runDciodvfy(path);
      expect(verdict.iod, name).toBe(name === "mr-image" ? "MRImage" : "SCImage");
      expect(verdict.errors, `${name}:\n${verdict.output}`).toEqual([]);
      // The one error set apart is Debian 12's dictionary not yet knowing Synthetic Data (0008,001C).
      for (const stale of verdict.staleDictionaryErrors) expect(stale).toContain("(0x0008,0x001c)");
    }
  });
  if (!dciodvfyAvailable) it.skip(skipMessage("dciodvfy", "dicom3tools"), () => undefined);

  it.skipIf(!dciodvfyAvailable)("sets aside nothing but the (0008,001C) dictionary error: a real error in the same file is reported", () => {
    const dicom = dcmjs.data.DicomMessage.readFile(writeSyntheticDicom(input()).slice().buffer as ArrayBuffer);
    dicom.dict["00280301"] = { vr: "CS", Value: ["MAYBE"] };
    const broken = join(directory, "burned-in-maybe.dcm");
    writeFileSync(broken, new Uint8Array(dicom.write()));
    const verdict = runDciodvfy(broken);
    expect(verdict.errors.join("\n"), verdict.output).toMatch(/enumerated value <MAYBE> .*Burned In Annotation/);
    expect(verdict.staleDictionaryErrors).toHaveLength(1);
    expect(verdict.staleDictionaryErrors[0]).toMatch(/not a recognized standard attribute - \(0x0008,0x001c\)/);
  });

  it.skipIf(!dcmdumpAvailable)("dcmdump (dcmtk) reads every element and the whole pixel data", () => {
    for (const [name, path] of files) {
      const dump = runDcmdump(path);
      expect(dump.status, `${name}:\n${dump.output}`).toBe(0);
      expect(dump.output, name).not.toMatch(/^E:|error/im);
      expect(dump.lines.get("7fe0,0010"), name).toMatch(new RegExp(`# *${rows * columns * 2},`));
      expect(dump.lines.get("0008,001c"), name).toContain("[YES]");
      expect(dump.lines.get("0028,0010"), name).toMatch(/US 64\b/);
    }
  });
  if (!dcmdumpAvailable) it.skip(skipMessage("dcmdump", "dcmtk"), () => undefined);

  it.skipIf(!pydicomPython)("pydicom decodes the pixel data intact", () => {
    for (const [name, path, sample] of files) {
      const reading = readWithPydicom(path);
      expect(reading.sopClassName, name).toBe(name === "mr-image" ? "MR Image Storage" : "Secondary Capture Image Storage");
      expect([reading.rows, reading.columns, reading.dtype]).toEqual([rows, columns, "uint16"]);
      expect(reading.pixels).toEqual(Array.from(sample.pixels));
      expect(reading.syntheticData).toBe("YES");
      expect(JSON.parse(reading.privateRecord ?? "null")).toEqual(provenance);
    }
  });
  if (!pydicomPython) it.skip(skipMessage("pydicom", "python3-pydicom"), () => undefined);
});

describe("windowForRange and windowFromPixels", () => {
  it("maps the range's ends to black and white by PS3.3 C.11.2.1.2.1", () => {
    const { windowCenter, windowWidth } = windowForRange(0, 4095);
    expect([windowCenter, windowWidth]).toEqual([2048, 4096]);
    // Black at or below c − 0.5 − (w − 1)/2, white at or above c − 0.5 + (w − 1)/2.
    expect(windowCenter - 0.5 - (windowWidth - 1) / 2).toBe(0);
    expect(windowCenter - 0.5 + (windowWidth - 1) / 2).toBe(4095);
  });

  it("ignores a few extreme pixels", () => {
    const pixels = new Uint16Array(1000).map((_, index) => 100 + (index % 200));
    pixels[0] = 65535;
    const window = windowFromPixels(pixels);
    expect(window.windowCenter - 0.5 + (window.windowWidth - 1) / 2).toBeLessThan(300);
    expect(window.windowCenter - 0.5 - (window.windowWidth - 1) / 2).toBeGreaterThanOrEqual(100);
  });
});
