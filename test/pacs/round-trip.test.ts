// The PACS round trip against a real Orthanc with its DICOMweb plugin, on PGlite and PostgreSQL: MR and CT
// files enter Orthanc as a modality would send them; RareForge imports the MR study through the upload path
// (de-identified before anything is written), inserts a pathology, and sends the synthetic image and its SEG
// back with STOW-RS. Orthanc then holds a new series in the same de-identified study, marked synthetic, that
// pydicom reads. A send interrupted by Orthanc stopping is reported per instance; re-sending sends only what
// failed.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dicomParser from "dicom-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { parsePacsEndpoints, PacsError, PacsService } from "../../src/pacs/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { ReferenceScanService } from "../../src/uploads/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { readSharedDicom, sharedDicomAvailable, SKIP_SHARED_DICOM_MESSAGE } from "../imaging/helpers/shared-dicom.ts";
import { filesUnder } from "../uploads/helpers/pixels.ts";
import { ORTHANC_PASSWORD, ORTHANC_USER, orthancAvailable, OrthancServer, readWithPydicom, SKIP_ORTHANC_MESSAGE } from "./helpers/orthanc.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
if (!sharedDicomAvailable) console.warn(SKIP_SHARED_DICOM_MESSAGE);

/** The identifying values of a source file: what must appear nowhere in RareForge's data directory. */
function identifiersOf(bytes: Uint8Array): string[] {
  const dataSet = dicomParser.parseDicom(bytes);
  return ["x00100010", "x00100020", "x0020000d", "x0020000e", "x00080018", "x00080050"]
    .map((tag) => dataSet.string(tag)?.trim())
    .filter((value): value is string => typeof value === "string" && value.length >= 4);
}

describe.skipIf(!orthancAvailable || !sharedDicomAvailable).each(testBackends())("PACS round trip with Orthanc on $name", (backend) => {
  let orthanc: OrthancServer;
  let dataDir: string;
  let db: Database;
  let store: ArtifactStore;
  let uploads: ReferenceScanService;
  let stopAfterStores = Infinity;
  let stores = 0;
  const pacs = () =>
    new PacsService(db, store, uploads, {
      endpoints: parsePacsEndpoints(JSON.stringify([{ name: "orthanc", url: orthanc.dicomWebUrl, auth: { kind: "basic", username: ORTHANC_USER, passwordEnv: "TEST_ORTHANC_PASSWORD" }, timeoutSeconds: 20, attempts: 2 }]), {
        TEST_ORTHANC_PASSWORD: ORTHANC_PASSWORD,
      }),
      maxUploadBytes: 1 << 20,
      dataDir,
      maxInstancesPerImport: 100,
      stowBatchSize: 1,
      client: {
        retryDelayMs: 10,
        // Orthanc is stopped once `stopAfterStores` STOW-RS requests went through: a send interrupted mid-way
        fetch: async (input, init) => {
          if (init?.method === "POST" && stores >= stopAfterStores) await orthanc.stop();
          const response = await fetch(input, init);
          if (init?.method === "POST") stores++;
          return response;
        },
      },
    });
  const mr = () => readSharedDicom("MR_small.dcm");
  const mrStudyUid = () => dicomParser.parseDicom(mr()).string("x0020000d")!;

  beforeAll(async () => {
    orthanc = await OrthancServer.start();
    await orthanc.upload(mr());
    await orthanc.upload(readSharedDicom("CT_small.dcm"));
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-pacs-"));
    db = await backend.open(path.join(dataDir, "db")); // on disk, so the byte scan of the data directory covers the database too
    await db.migrate();
    store = new ArtifactStore(path.join(dataDir, "artifacts"));
    uploads = new ReferenceScanService(db, store, { maxUploadBytes: 1 << 20, maxImagePixels: 40_000_000, dataDir, modelsDir: MODELS_DIR, executionProvider: "cpu", onnxThreads: 1 });
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await orthanc?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("finds the studies Orthanc holds with QIDO-RS", async () => {
    const studies = await pacs().search("orthanc", {});
    const uids = studies.map((s) => s["0020000D"]?.Value?.[0]);
    expect(uids).toContain(mrStudyUid());
    expect(uids).toHaveLength(2);
    const series = await pacs().search("orthanc", { studyInstanceUid: mrStudyUid() });
    expect(series.map((s) => s["00080060"]?.Value?.[0])).toEqual(["MR"]);
  });

  it("imports a study, inserts a pathology and sends the synthetic series back into the same de-identified study", async () => {
    const imported = await pacs().importFromPacs("orthanc", mrStudyUid());
    expect(imported.instances).toHaveLength(1);
    const [first] = imported.instances;
    expect(first?.status).toBe("IMPORTED");
    const scanId = (first as { referenceScanId: string }).referenceScanId;
    // the same instance again is recognised by its keyed hash, not stored twice
    const again = await pacs().importFromPacs("orthanc", mrStudyUid());
    expect(again.instances).toEqual([{ status: "ALREADY_IMPORTED", referenceScanId: scanId, instanceNumber: first?.instanceNumber ?? null }]);
    expect(await db.prisma.referenceScan.count()).toBe(1);
    const origin = await db.prisma.pacsImport.findUniqueOrThrow({ where: { referenceScanId: scanId } });
    expect(origin.endpoint).toBe("orthanc");
    expect(JSON.stringify(origin)).not.toContain(mrStudyUid());

    const scan = await db.prisma.referenceScan.findUniqueOrThrow({ where: { id: scanId } });
    expect(scan.studyInstanceUid).not.toBe(mrStudyUid());
    const insertion = await uploads.insertPathology({
      referenceScanId: scanId,
      region: { kind: "box", x: 22, y: 26, width: 12, height: 10 },
      parameters: { pathology: "tumour", lesionContrast: 0.8 },
      sampler: "ddim",
      steps: 4,
      guidance: 3,
      seed: 5,
    });

    const sent = await pacs().sendToPacs("orthanc", { insertionId: insertion.id });
    expect(sent.instances.map((i) => i.status)).toEqual(["STORED", "STORED"]);

    // Orthanc now holds the de-identified study with the synthetic image series and the SEG series
    const studies = await orthanc.restJson<string[]>("/tools/find", { method: "POST", body: JSON.stringify({ Level: "Study", Query: { StudyInstanceUID: scan.studyInstanceUid } }) });
    expect(studies).toHaveLength(1);
    const study = await orthanc.restJson<{ Series: string[] }>(`/studies/${studies[0]}`);
    const modalities: string[] = [];
    for (const seriesId of study.Series) {
      const series = await orthanc.restJson<{ MainDicomTags: { Modality: string }; Instances: string[] }>(`/series/${seriesId}`);
      modalities.push(series.MainDicomTags.Modality);
      for (const instanceId of series.Instances) {
        // by tag number: Orthanc 1.10's dictionary predates the Synthetic Data keyword
        const tags = await orthanc.restJson<Record<string, string>>(`/instances/${instanceId}/tags?short`);
        expect(tags["0008,001c"]).toBe("YES");
        expect(tags["0020,000d"]).toBe(scan.studyInstanceUid);
        // pydicom reads what Orthanc returns
        const file = path.join(dataDir, `from-orthanc-${instanceId}.dcm`);
        writeFileSync(file, new Uint8Array(await (await orthanc.rest(`/instances/${instanceId}/file`)).arrayBuffer()));
        const read = readWithPydicom(file);
        if (read) {
          expect(read.SyntheticData).toBe("YES");
          expect(read.StudyInstanceUID).toBe(scan.studyInstanceUid);
        }
        rmSync(file);
      }
    }
    expect(modalities.sort()).toEqual(["MR", "SEG"]);

    // sending again sends nothing: both are stored
    const before = stores;
    const resent = await pacs().sendToPacs("orthanc", { insertionId: insertion.id });
    expect(resent.instances.map((i) => i.status)).toEqual(["ALREADY_STORED", "ALREADY_STORED"]);
    expect(stores).toBe(before);
  }, 120_000);

  it("reports each instance of a send that Orthanc's stop interrupted, and re-sends only what failed", async () => {
    const scan = await db.prisma.referenceScan.findFirstOrThrow();
    const insertion = await uploads.insertPathology({
      referenceScanId: scan.id,
      region: { kind: "box", x: 10, y: 10, width: 10, height: 10 },
      parameters: { pathology: "haemorrhage", lesionContrast: 0.7 },
      sampler: "ddim",
      steps: 4,
      guidance: 3,
      seed: 9,
    });
    stopAfterStores = stores + 1; // the first instance goes through, then Orthanc stops
    const interrupted = await pacs().sendToPacs("orthanc", { insertionId: insertion.id });
    expect(interrupted.instances.map((i) => i.status)).toEqual(["STORED", "FAILED"]);
    expect(interrupted.instances[1]?.failure).toMatch(/^UNREACHABLE: orthanc: store failed/);
    const failedRow = await db.prisma.pacsSend.findFirstOrThrow({ where: { status: "FAILED" } });
    expect(failedRow.attempts).toBe(1);

    stopAfterStores = Infinity;
    await orthanc.resume();
    const before = stores;
    const resent = await pacs().sendToPacs("orthanc", { insertionId: insertion.id });
    expect(resent.instances.map((i) => i.status).sort()).toEqual(["ALREADY_STORED", "STORED"]);
    expect(stores - before).toBe(1);
    expect((await db.prisma.pacsSend.findUniqueOrThrow({ where: { id: failedRow.id } })).attempts).toBe(2);
  }, 120_000);

  it("never sends a file without Synthetic Data = YES, and names an unknown endpoint", async () => {
    // a row that points at the imported (real, de-identified) scan as if it were an insertion's output
    const scan = await db.prisma.referenceScan.findFirstOrThrow();
    const fake = await db.prisma.pathologyInsertion.create({
      data: { id: crypto.randomUUID(), referenceScanId: scan.id, region: {}, parameters: {}, provenance: {}, artifactId: scan.artifactId, createdAt: new Date() },
    });
    const before = stores;
    await expect(pacs().sendToPacs("orthanc", { insertionId: fake.id })).rejects.toMatchObject({ name: "PacsError", code: "NOT_SYNTHETIC" });
    expect(stores).toBe(before);
    await db.prisma.pathologyInsertion.delete({ where: { id: fake.id } });
    const unknown = await pacs().importFromPacs("nowhere", mrStudyUid()).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(PacsError);
    expect((unknown as PacsError).code).toBe("UNKNOWN_ENDPOINT");
  });

  it("keeps no source identifier anywhere in the data directory (database and artifacts)", async () => {
    // every row of every table, as text (on PostgreSQL the database is not in the data directory)
    const tables = await db.prisma.$queryRawUnsafe<{ name: string }[]>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
    expect(tables.map((t) => t.name)).toContain("PacsImport");
    let rowsText = "";
    for (const { name } of tables) {
      const rows = await db.prisma.$queryRawUnsafe<{ row: string }[]>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
      rowsText += rows.map((r) => r.row).join("\n");
    }
    if (backend.name === "pglite") await db.close(); // flush PGlite's files before scanning them
    const identifiers = identifiersOf(mr());
    expect(identifiers.length).toBeGreaterThanOrEqual(4);
    // the scan can fail: the source file itself holds every identifier
    const sourceText = Buffer.from(mr()).toString("latin1");
    expect(identifiers.filter((id) => !sourceText.includes(id))).toEqual([]);
    const files = filesUnder(dataDir);
    expect(files.length).toBeGreaterThan(backend.name === "pglite" ? 10 : 3);
    const found: string[] = identifiers.filter((id) => rowsText.includes(id)).map((id) => `database row: ${id}`);
    for (const file of files) {
      if (statSync(file).size > 64 * 1024 * 1024) continue;
      const text = readFileSync(file).toString("latin1");
      for (const id of identifiers) if (text.includes(id)) found.push(`${path.relative(dataDir, file)}: ${id}`);
    }
    expect(found).toEqual([]);
  }, 60_000);
});
