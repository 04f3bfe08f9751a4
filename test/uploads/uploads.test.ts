// Reference scan uploads through the real upload paths (GraphQL multipart and the service the CLI uses):
// nothing identifying is stored anywhere, refused files leave no row and no file, PNG/JPEG metadata goes.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dicomParser from "dicom-parser";
import { encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { openDatabase } from "../../src/db/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { ReferenceScanService, UploadRefusedError } from "../../src/uploads/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { readSharedDicom, SHARED_DICOM_DIR, sharedDicomAvailable, SKIP_SHARED_DICOM_MESSAGE } from "../imaging/helpers/shared-dicom.ts";
import { buildRleDicom, rleFrame } from "../imaging/helpers/build-dicom.ts";
import { jpegDeclaring, pngDeclaring } from "../imaging/helpers/forged-images.ts";
import { filesUnder } from "./helpers/pixels.ts";

/** Every row of every table outside the system schemas, as JSON text (the database's whole content). */
export async function dumpDatabase(db: Database): Promise<string[]> {
  const tables = await db.prisma.$queryRawUnsafe<{ table_schema: string; table_name: string }[]>(
    `SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  const rows: string[] = [];
  for (const { table_schema, table_name } of tables) {
    const dumped = await db.prisma.$queryRawUnsafe<{ row: string }[]>(`SELECT row_to_json(t)::text AS row FROM "${table_schema}"."${table_name}" t`);
    rows.push(...dumped.map((d) => `${table_schema}.${table_name}: ${d.row}`));
  }
  return rows;
}

/** The identifiers of a DICOM file that must not survive de-identification: names, IDs, institution, every non-DICOM-root UID. */
function identifiersOf(bytes: Uint8Array): string[] {
  const dataSet = dicomParser.parseDicom(bytes);
  const found = new Set<string>();
  const walk = (set: dicomParser.DataSet) => {
    for (const [tag, element] of Object.entries(set.elements)) {
      if (element.items) for (const item of element.items) if (item.dataSet) walk(item.dataSet);
      const value = set.string(tag)?.trim();
      if (!value) continue;
      if (["x00100010", "x00100020", "x00080080", "x00080081"].includes(tag)) found.add(value);
      if ((element.vr === "UI" || /^[0-9]+(\.[0-9]+){3,}$/.test(value)) && !value.startsWith("1.2.840.10008.") && tag !== "x00020010") found.add(value);
    }
  };
  walk(dataSet);
  return [...found];
}

describe.skipIf(!sharedDicomAvailable)("uploading reference scans", () => {
  let dataDir: string;
  let db: Database;
  let test: TestService;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-uploads-"));
    db = await openDatabase({ kind: "pglite" });
    test = await startTestService(db, { dataDir, runWorker: false, importLibraryOnStart: false, maxUploadBytes: 1024 * 1024 });
  });
  afterAll(async () => {
    await test?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = async (bytes: Uint8Array, name = "scan.dcm") => {
    const form = new FormData();
    form.set(
      "operations",
      JSON.stringify({
        query: `mutation ($file: File!) { uploadReferenceScan(file: $file) {
          __typename
          ... on MutationUploadReferenceScanSuccess { data { id uuid kind modality rows columns studyInstanceUid sopInstanceUid deidentification artifact { sha256 mediaType } } }
          ... on UploadRefusedError { message code dicomCode transferSyntaxUid }
        } }`,
        variables: { file: null },
      }),
    );
    form.set("map", JSON.stringify({ 0: ["variables.file"] }));
    form.set("0", new Blob([Buffer.from(bytes)]), name);
    const response = await test.fetch(`/graphql`, { method: "POST", body: form, headers: { "apollo-require-preflight": "true" } });
    const body = (await response.json()) as { data?: { uploadReferenceScan: Record<string, any> }; errors?: unknown };
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    return body.data!.uploadReferenceScan;
  };

  it("stores CT_small de-identified: no stored file and no database row holds its patient name, ID, institution or UIDs", async () => {
    const original = readSharedDicom("CT_small.dcm");
    const identifiers = identifiersOf(original);
    // The file has all four kinds, so the check below can fail.
    expect(identifiers).toContain("CompressedSamples^CT1");
    expect(identifiers.length).toBeGreaterThan(4);

    const result = await upload(original, "CompressedSamples^CT1.dcm");
    expect(result.__typename).toBe("MutationUploadReferenceScanSuccess");
    const scan = result.data;
    expect(scan).toMatchObject({ kind: "DICOM", modality: "CT", rows: 128, columns: 128, artifact: { mediaType: "application/dicom" } });
    expect(scan.deidentification.profile).toMatch(/Basic Application Level Confidentiality Profile/);

    const stored = filesUnder(dataDir);
    expect(stored.some((file) => file.endsWith(scan.artifact.sha256))).toBe(true);
    const rows = await dumpDatabase(db);
    expect(rows.some((row) => row.includes(scan.uuid))).toBe(true);
    for (const identifier of identifiers) {
      for (const file of stored) expect(readFileSync(file).includes(Buffer.from(identifier, "latin1")), `${identifier} in ${file}`).toBe(false);
      for (const row of rows) expect(row.includes(identifier), `${identifier} in ${row.slice(0, 120)}`).toBe(false);
    }
    // The stored file says what was done to it.
    const storedSet = dicomParser.parseDicom(readFileSync(stored.find((file) => file.endsWith(scan.artifact.sha256))!));
    expect(storedSet.string("x00120062")).toBe("YES");
    expect(storedSet.string("x00120063")).toMatch(/Basic Application Confidentiality Profile/);
    expect(storedSet.string("x0020000d")).toBe(scan.studyInstanceUid);
    // Nothing half-written in the store's temporary folder.
    expect(filesUnder(path.join(dataDir, "artifacts", "tmp"))).toEqual([]);
  });

  it("gives the same replacement UIDs to the same original (slices of one study stay one study)", async () => {
    const first = await upload(readSharedDicom("MR_small.dcm"));
    const second = await upload(readSharedDicom("MR_small_implicit.dcm"));
    expect(first.data.studyInstanceUid).toBe(second.data.studyInstanceUid);
    expect(first.data.studyInstanceUid).not.toBe(dicomParser.parseDicom(readSharedDicom("MR_small.dcm")).string("x0020000d"));
  });

  it("reads or refuses every shared DICOM file through the upload; a refusal names the problem and leaves no row and no file", async () => {
    const outcomes: Record<string, string> = {};
    for (const name of readdirSync(SHARED_DICOM_DIR).filter((n) => n.endsWith(".dcm")).sort()) {
      const filesBefore = filesUnder(path.join(dataDir, "artifacts")).sort();
      const scansBefore = await db.prisma.referenceScan.count();
      const artifactsBefore = await db.prisma.artifact.count();
      const result = await upload(readSharedDicom(name), name);
      if (result.__typename === "UploadRefusedError") {
        expect(["DICOM_REFUSED", "UNSUPPORTED_TYPE"], name).toContain(result.code);
        expect(result.message.length, name).toBeGreaterThan(20);
        expect(filesUnder(path.join(dataDir, "artifacts")).sort(), name).toEqual(filesBefore);
        expect(await db.prisma.referenceScan.count(), name).toBe(scansBefore);
        expect(await db.prisma.artifact.count(), name).toBe(artifactsBefore);
        outcomes[name] = `${result.code}:${result.dicomCode}`;
      } else {
        expect(result.__typename, name).toBe("MutationUploadReferenceScanSuccess");
        expect(await db.prisma.referenceScan.count(), name).toBe(scansBefore + 1);
        outcomes[name] = "stored";
      }
    }
    // The readers' verdicts (test/imaging/dicom-read.test.ts) hold on the upload path too.
    expect(outcomes).toMatchObject({
      "CT_small.dcm": "stored",
      "MR_small.dcm": "stored",
      "MR_small_RLE.dcm": "stored",
      "MR_small_bigendian.dcm": "stored",
      "image_dfl.dcm": "stored",
      "JPGExtended.dcm": "DICOM_REFUSED:UNSUPPORTED_TRANSFER_SYNTAX",
      "MR_truncated.dcm": "DICOM_REFUSED:TRUNCATED",
      "rtplan_truncated.dcm": "DICOM_REFUSED:TRUNCATED",
      "badVR.dcm": "DICOM_REFUSED:INVALID_VALUE",
      "no_meta.dcm": "UNSUPPORTED_TYPE:NOT_DICOM",
    });
    expect(filesUnder(path.join(dataDir, "artifacts", "tmp"))).toEqual([]);
  });

  it("inserts a pathology into an uploaded scan through GraphQL and refuses a region outside it as a typed result", async () => {
    const scan = (await upload(readSharedDicom("MR_small.dcm"))).data;
    const INSERT = `mutation ($scan: ID!, $box: RegionBoxInput) {
      insertPathology(referenceScanId: $scan, box: $box, parameters: { pathology: "lesions", lesionContrast: 0.9 }, sampler: DDIM, steps: 6, guidance: 3, seed: 1) {
        __typename
        ... on MutationInsertPathologySuccess { data { uuid parameters referenceScan { uuid } artifact { mediaType url } files { role mediaType url } } }
        ... on InsertionRefusedError { code message }
      } }`;
    const inserted = await test.graphql(INSERT, { scan: scan.id, box: { x: 10, y: 12, width: 8, height: 8 } });
    expect(inserted.errors).toBeUndefined();
    const insertion = inserted.data!.insertPathology.data;
    expect(insertion).toMatchObject({ referenceScan: { uuid: scan.uuid }, artifact: { mediaType: "application/dicom" }, parameters: { pathology: "lesions", lesionX: 14 / 64, lesionY: 16 / 64 } });
    expect(insertion.files.map((f: { role: string }) => f.role)).toEqual(["preview", "ground-truth", "segmentation"]);
    const dicom = await test.fetch(`${insertion.artifact.url}`);
    expect(dicom.headers.get("content-type")).toBe("application/dicom");
    expect(dicomParser.parseDicom(new Uint8Array(await dicom.arrayBuffer())).string("x0020000d")).toBe(scan.studyInstanceUid);

    const refused = await test.graphql(INSERT, { scan: scan.id, box: { x: 60, y: 0, width: 8, height: 8 } });
    expect(refused.data!.insertPathology).toMatchObject({ __typename: "InsertionRefusedError", code: "REGION" });
  });

  it("refuses an empty file, a file over the limit and a file of another type, storing nothing", async () => {
    const scansBefore = await db.prisma.referenceScan.count();
    expect(await upload(new Uint8Array())).toMatchObject({ __typename: "UploadRefusedError", code: "EMPTY" });
    expect(await upload(new Uint8Array(1024 * 1024 + 1))).toMatchObject({ __typename: "UploadRefusedError", code: "TOO_LARGE" });
    const pdf = new TextEncoder().encode("%PDF-1.7\n% not a scan\n".repeat(20));
    const refused = await upload(pdf, "report.pdf");
    expect(refused).toMatchObject({ __typename: "UploadRefusedError", code: "UNSUPPORTED_TYPE" });
    expect(refused.message).toMatch(/not a DICOM, PNG or JPEG/);
    expect(await db.prisma.referenceScan.count()).toBe(scansBefore);
  });

  it("stores a PNG without its text chunks and a JPEG without its EXIF/comment segments", async () => {
    const secret = "Jane Doe 1970-01-01 MRN 123456";
    const png = encodePng({ width: 4, height: 3, channels: 1, depth: 8, data: new Uint8Array(12).fill(100), text: { Comment: secret } });
    expect(Buffer.from(png).includes(secret)).toBe(true);
    const pngScan = await upload(png, "scan.png");
    expect(pngScan.data).toMatchObject({ kind: "PNG", rows: 3, columns: 4, artifact: { mediaType: "image/png" } });
    const storedPng = readFileSync(new ArtifactStore(path.join(dataDir, "artifacts")).pathOf(pngScan.data.artifact.sha256));
    expect(storedPng.includes(secret)).toBe(false);

    // A real JPEG with a comment segment (0xFFFE) carrying the secret spliced in after SOI.
    const jpeg = readFileSync(new URL("../../../shared/data/images/bus.jpg", import.meta.url));
    const comment = Buffer.concat([Buffer.from([0xff, 0xfe, 0, secret.length + 2]), Buffer.from(secret)]);
    const tagged = Buffer.concat([jpeg.subarray(0, 2), comment, jpeg.subarray(2)]);
    const jpegScan = await upload(new Uint8Array(tagged), "bus.jpg");
    expect(jpegScan.data).toMatchObject({ kind: "JPEG", rows: 1080, columns: 810, artifact: { mediaType: "image/jpeg" } });
    const storedJpeg = readFileSync(new ArtifactStore(path.join(dataDir, "artifacts")).pathOf(jpegScan.data.artifact.sha256));
    expect(storedJpeg.includes(secret)).toBe(false);
  });
});

describe.skipIf(!sharedDicomAvailable)("ReferenceScanService (the CLI's upload path)", () => {
  it("refuses a truncated file with a typed error before writing anything", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-uploads-"));
    const db = await openDatabase({ kind: "pglite" });
    try {
      await db.migrate();
      const service = new ReferenceScanService(db, new ArtifactStore(path.join(dataDir, "artifacts")), { maxUploadBytes: 1 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: "models", executionProvider: "cpu", onnxThreads: 1 });
      const error = await service.upload(readSharedDicom("MR_truncated.dcm")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UploadRefusedError);
      expect((error as UploadRefusedError).message).toMatch(/TRUNCATED.*\(7FE0,0010\)/);
      expect(filesUnder(path.join(dataDir, "artifacts"))).toEqual([]);
      expect(await db.prisma.referenceScan.count()).toBe(0);
    } finally {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("ReferenceScanService refusing files whose headers ask for more than their data holds", () => {
  let dataDir: string;
  let db: Database;
  let service: ReferenceScanService;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-uploads-"));
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    service = new ReferenceScanService(db, new ArtifactStore(path.join(dataDir, "artifacts")), { maxUploadBytes: 1 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: "models", executionProvider: "cpu", onnxThreads: 1 });
  });
  afterAll(async () => {
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const refusal = async (bytes: Uint8Array) => {
    const error = await service.upload(bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadRefusedError);
    expect(filesUnder(path.join(dataDir, "artifacts")).filter((f) => !f.includes(`${path.sep}tmp${path.sep}`))).toEqual([]);
    expect(await db.prisma.referenceScan.count()).toBe(0);
    return error as UploadRefusedError;
  };

  it("refuses a small PNG whose IHDR declares 20000x20000 as IMAGE_REFUSED naming the size and the limit, storing nothing", async () => {
    const error = await refusal(pngDeclaring(20000, 20000));
    expect(error.code).toBe("IMAGE_REFUSED");
    expect(error.message).toBe("uploaded PNG is 20000x20000 (400000000 pixels); the limit is 40000000 pixels (RAREFORGE_MAX_IMAGE_PIXELS)");
  });

  it("refuses a JPEG whose SOF0 declares 20000x20000 the same way", async () => {
    const error = await refusal(jpegDeclaring(20000, 20000));
    expect(error.code).toBe("IMAGE_REFUSED");
    expect(error.message).toMatch(/^uploaded JPEG is 20000x20000 \(400000000 pixels\); the limit is 40000000 pixels/);
  });

  it("refuses a DICOM declaring 100,000 frames with one fragment as DICOM_REFUSED (INVALID_VALUE), storing nothing", async () => {
    const error = await refusal(buildRleDicom({ numberOfFrames: 100_000, fragments: [rleFrame([0, 64, 128, 255])], offsets: [0] }));
    expect(error.code).toBe("DICOM_REFUSED");
    expect(error.dicomCode).toBe("INVALID_VALUE");
    expect(error.message).toMatch(/Number of Frames \(0028,0008\) is 100000/);
  });
});

if (!sharedDicomAvailable) describe.skip(SKIP_SHARED_DICOM_MESSAGE, () => undefined);
