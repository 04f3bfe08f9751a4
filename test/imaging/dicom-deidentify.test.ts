import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dicomParser from "dicom-parser";
import type { DataSet } from "dicom-parser";
import { afterAll, describe, expect, it } from "vitest";
import { DicomError, deidentifyDicom, generateUid, readDicom, readProvenanceRecord, writeSyntheticDicom } from "../../src/imaging/dicom/index.ts";
import { dciodvfyAvailable, runDciodvfy, skipMessage } from "./helpers/dicom-tools.ts";
import { readSharedDicom, sharedDicomAvailable } from "./helpers/shared-dicom.ts";

/** Every UID value in the data set, sequences included (explicit VR files only). */
function uidValues(dataSet: DataSet): string[] {
  const uids: string[] = [];
  for (const [tag, element] of Object.entries(dataSet.elements)) {
    if (element.vr === "UI") uids.push(dataSet.string(tag) ?? "");
    for (const item of element.items ?? []) if (item.dataSet) uids.push(...uidValues(item.dataSet));
  }
  return uids.filter(Boolean);
}

function containsBytes(haystack: Uint8Array, text: string): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).includes(Buffer.from(text, "latin1"));
}

function elementTags(bytes: Uint8Array): string[] {
  const dataSet = dicomParser.parseDicom(bytes);
  const tags: string[] = [];
  const walk = (set: DataSet): void => {
    for (const [tag, element] of Object.entries(set.elements)) {
      tags.push(tag);
      for (const item of element.items ?? []) if (item.dataSet) walk(item.dataSet);
    }
  };
  walk(dataSet);
  return tags;
}

const isPrivateTag = (tag: string): boolean => Number.parseInt(tag.slice(1, 5), 16) % 2 === 1;

function ctSmallFixture() {
  const original = readSharedDicom("CT_small.dcm");
  const originalDataSet = dicomParser.parseDicom(original);
  const identifiers = {
    patientName: originalDataSet.string("x00100010") ?? "",
    patientId: originalDataSet.string("x00100020") ?? "",
    institution: originalDataSet.string("x00080080") ?? "",
  };
  const originalUids = uidValues(originalDataSet).filter((uid) => !uid.startsWith("1.2.840.10008."));
  return { original, originalDataSet, identifiers, originalUids, ...deidentifyDicom(original, { dateShiftDays: -30 }) };
}

describe.skipIf(!sharedDicomAvailable)("deidentifyDicom on CT_small.dcm", () => {
  // vitest collects a skipped block's tests too, so the shared file is only read when it is there.
  const { original, originalDataSet, identifiers, originalUids, bytes, report } = sharedDicomAvailable
    ? ctSmallFixture()
    : { original: new Uint8Array(), originalDataSet: undefined as never, identifiers: {} as Record<string, string>, originalUids: [] as string[], bytes: new Uint8Array(), report: undefined as never };

  it("starts from a file that does carry the identifiers", () => {
    expect(identifiers.patientName).toBe("CompressedSamples^CT1");
    expect(identifiers.patientId).not.toBe("");
    expect(identifiers.institution).not.toBe("");
    expect(originalUids.length).toBeGreaterThanOrEqual(4);
    for (const value of [...Object.values(identifiers), ...originalUids]) expect(containsBytes(original, value), value).toBe(true);
  });

  it("leaves no byte of the patient name, patient ID, institution or any original UID", () => {
    for (const [what, value] of Object.entries(identifiers)) expect(containsBytes(bytes, value), `${what} "${value}"`).toBe(false);
    expect(containsBytes(bytes, "CompressedSamples")).toBe(false);
    for (const uid of originalUids) expect(containsBytes(bytes, uid), `UID ${uid}`).toBe(false);
  });

  it("removes every private attribute", () => {
    expect(elementTags(original).some(isPrivateTag)).toBe(true);
    expect(elementTags(bytes).filter(isPrivateTag)).toEqual([]);
    expect(report.privateAttributesRemoved).toBeGreaterThan(0);
  });

  it("records Patient Identity Removed YES and the method, with the modified-dates option", async () => {
    const dataSet = dicomParser.parseDicom(bytes);
    expect(dataSet.string("x00120062")).toBe("YES");
    expect(dataSet.string("x00120063")).toContain("Basic Application Confidentiality Profile");
    const codes = (dataSet.elements.x00120064?.items ?? []).map((item) => item.dataSet?.string("x00080100"));
    expect(codes).toEqual(["113100", "113107"]);
    expect(dataSet.string("x00280303")).toBe("MODIFIED");
    expect(report.options).toEqual(["Retain Longitudinal Temporal Information with Modified Dates Option"]);
    expect((await readDicom(bytes)).summary.patientIdentityRemoved).toBe("YES");
  });

  it("shifts dates by the given days and keeps the pixels", async () => {
    const studyDate = originalDataSet.string("x00080020") ?? "";
    const expected = new Date(Date.UTC(Number(studyDate.slice(0, 4)), Number(studyDate.slice(4, 6)) - 1, Number(studyDate.slice(6, 8)) - 30));
    expect(dicomParser.parseDicom(bytes).string("x00080020")).toBe(expected.toISOString().slice(0, 10).replace(/-/g, ""));
    expect(dicomParser.parseDicom(bytes).string("x00100030") ?? "").toBe("");
    const before = await readDicom(original);
    const after = await readDicom(bytes);
    expect(Array.from(after.pixels)).toEqual(Array.from(before.pixels));
  });

  it("empties dates and times without the option", () => {
    const plain = dicomParser.parseDicom(deidentifyDicom(original).bytes);
    expect(plain.string("x00080020") ?? "").toBe("");
    expect(plain.string("x00080030") ?? "").toBe("");
    expect(plain.string("x00280303")).toBe("REMOVED");
  });

  it("reports what it did by attribute name, without the removed values", () => {
    expect(report.removed).toContain("(0008,0080) InstitutionName");
    expect(report.emptied).toEqual(expect.arrayContaining(["(0010,0010) PatientName", "(0010,0020) PatientID"]));
    expect(report.replaced).toEqual(expect.arrayContaining(["(0008,0018) SOPInstanceUID", "(0020,000D) StudyInstanceUID"]));
    expect(JSON.stringify(report)).not.toContain(identifiers.patientName);
    expect(report.warnings.join(" ")).toMatch(/Burned In Annotation/);
  });

  const directory = mkdtempSync(join(tmpdir(), "rareforge-deid-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  it.skipIf(!dciodvfyAvailable)("stays a valid CT Image for dciodvfy", () => {
    const path = join(directory, "ct-deidentified.dcm");
    writeFileSync(path, bytes);
    const verdict = runDciodvfy(path);
    expect(verdict.iod).toBe("CTImage");
    expect(verdict.errors, verdict.output).toEqual([]);
  });
  if (!dciodvfyAvailable) it.skip(skipMessage("dciodvfy", "dicom3tools"), () => undefined);
});

describe.skipIf(!sharedDicomAvailable)("deidentifyDicom across encodings and files", () => {
  it("replaces UIDs consistently through a shared UID map: MR_small and its implicit copy get the same new UIDs", () => {
    const uidMap = new Map<string, string>();
    const explicit = dicomParser.parseDicom(deidentifyDicom(readSharedDicom("MR_small.dcm"), { uidMap }).bytes);
    const implicit = dicomParser.parseDicom(deidentifyDicom(readSharedDicom("MR_small_implicit.dcm"), { uidMap }).bytes);
    for (const tag of ["x0020000d", "x0020000e", "x00080018"]) {
      expect(explicit.string(tag)).toMatch(/^2\.25\./);
      expect(implicit.string(tag)).toBe(explicit.string(tag));
    }
    const original = dicomParser.parseDicom(readSharedDicom("MR_small.dcm"));
    expect(uidMap.get(original.string("x0020000d") ?? "")).toBe(explicit.string("x0020000d"));
    const separate = dicomParser.parseDicom(deidentifyDicom(readSharedDicom("MR_small.dcm")).bytes);
    expect(separate.string("x0020000d")).not.toBe(explicit.string("x0020000d"));
  });

  it.each(["MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm"])("keeps %s's pixels identical to MR_small", async (name) => {
    const { bytes, report } = deidentifyDicom(readSharedDicom(name));
    const reference = await readDicom(readSharedDicom("MR_small.dcm"));
    const image = await readDicom(bytes);
    expect(Array.from(image.pixels)).toEqual(Array.from(reference.pixels));
    expect(report.transferSyntax.output).toBe(name === "MR_small_RLE.dcm" ? "1.2.840.10008.1.2.5" : "1.2.840.10008.1.2.1");
  });

  it("meets every truncation of CT_small and MR_small_implicit with a DicomError or a de-identified file, never another exception", () => {
    // A cut that falls exactly between two elements leaves a shorter but well-formed data set, which
    // is de-identified like any other; every other cut must be refused.
    for (const name of ["CT_small.dcm", "MR_small_implicit.dcm"]) {
      const bytes = readSharedDicom(name);
      const patientName = dicomParser.parseDicom(bytes).string("x00100010") ?? "";
      let refused = 0;
      for (let length = 0; length < bytes.length; length += 211) {
        try {
          const { bytes: output } = deidentifyDicom(bytes.subarray(0, length));
          expect(containsBytes(output, patientName), `${name} cut at ${length}`).toBe(false);
        } catch (error) {
          expect(error, `${name} cut at ${length}`).toBeInstanceOf(DicomError);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(bytes.length / 211 - 5);
    }
  });

  it.each<[string, string]>([
    ["MR_truncated.dcm", "TRUNCATED"],
    ["rtplan_truncated.dcm", "TRUNCATED"],
    ["no_meta.dcm", "NOT_DICOM"],
  ])("refuses %s with %s before anything is written", (name, code) => {
    let thrown: unknown;
    try {
      deidentifyDicom(readSharedDicom(name));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DicomError);
    expect((thrown as DicomError).code).toBe(code);
  });
});

describe("deidentifyDicom on a file made here", () => {
  it("removes a name, ID and dates planted in a RareForge file, and its private provenance block", () => {
    const planted = writeSyntheticDicom({
      pixels: new Uint16Array(16 * 16).map((_, index) => index),
      rows: 16,
      columns: 16,
      modality: "MR",
      windowCenter: 128,
      windowWidth: 256,
      studyUid: generateUid(),
      seriesUid: generateUid(),
      instanceNumber: 1,
      provenance: { uploadedBy: "Jane Doe" },
      patientName: "DOE^JANE",
      patientId: "MRN-0042-77",
      createdAt: new Date("2025-03-04T10:00:00Z"),
    });
    const { bytes } = deidentifyDicom(planted, { patientPseudonym: "SUBJECT-001", dateShiftDays: 10 });
    expect(readProvenanceRecord(planted)).toEqual({ uploadedBy: "Jane Doe" });
    expect(readProvenanceRecord(bytes)).toBeUndefined();
    for (const value of ["DOE^JANE", "MRN-0042-77", "Jane Doe", "20250304"]) expect(containsBytes(bytes, value), value).toBe(false);
    const dataSet = dicomParser.parseDicom(bytes);
    expect(dataSet.string("x00100010")).toBe("SUBJECT-001");
    expect(dataSet.string("x00080020")).toBe("20250314");
  });

  it("refuses bytes that are not DICOM with a typed error", () => {
    expect(() => deidentifyDicom(new TextEncoder().encode("not a dicom file at all"))).toThrow(DicomError);
  });
});
