// PACS over DICOMweb: pull reference studies into the upload path, push synthetic series back.
// Import: QIDO-RS lists a series' instances, WADO-RS fetches each under the upload size limit, and the bytes
// go through exactly the reference-scan upload (reading, de-identification before anything is written,
// typed refusals, no orphan); where each scan came from is kept only as keyed hashes, in the upload's own
// transaction. Send: the synthetic DICOM images and SEG objects of an insertion, a job or chosen samples go
// out with STOW-RS; a file lacking Synthetic Data = YES refuses the whole send before anything leaves; each
// instance's outcome is stored, so a re-send sends only what failed.
import { createHmac } from "node:crypto";
import dicomParser from "dicom-parser";
import { requireScope } from "../access/index.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { ArtifactStore } from "../storage/index.ts";
import { deidentificationKey, UploadRefusedError, type ReferenceScanService } from "../uploads/index.ts";
import { DicomWebClient, stringValue, type DicomJson, type DicomWebClientOptions } from "./client.ts";
import type { PacsEndpoint } from "./endpoints/index.ts";
import { PacsError } from "./errors.ts";

/** A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters. */
const UID = /^[0-9]+(\.[0-9]+)*$/;
/** Instances sent per STOW-RS request, unless the settings say otherwise. */
const STOW_BATCH = 16;

export interface PacsSettings {
  endpoints: readonly PacsEndpoint[];
  /** The upload limit applies to each retrieved instance. */
  maxUploadBytes: number;
  /** Holds the de-identification key, which also keys the origin hashes. */
  dataDir: string;
  /** Most instances one import fetches. */
  maxInstancesPerImport: number;
  /** Instances per STOW-RS request (default 16). */
  stowBatchSize?: number;
  client?: DicomWebClientOptions;
}

export function pacsSettings(config: Pick<Config, "pacsEndpoints" | "maxUploadBytes" | "dataDir" | "pacsMaxInstances">): PacsSettings {
  return { endpoints: config.pacsEndpoints, maxUploadBytes: config.maxUploadBytes, dataDir: config.dataDir, maxInstancesPerImport: config.pacsMaxInstances };
}

export type ImportedInstance =
  | { status: "IMPORTED"; referenceScanId: string; instanceNumber: number | null }
  | { status: "ALREADY_IMPORTED"; referenceScanId: string; instanceNumber: number | null }
  | { status: "REFUSED"; code: string; message: string; instanceNumber: number | null };

export interface PacsImportResult {
  endpoint: string;
  instances: ImportedInstance[];
}

export type SendTarget = { jobId: string } | { insertionId: string } | { sampleIds: readonly string[] };

export interface SentInstance {
  sopInstanceUid: string;
  sha256: string;
  status: "STORED" | "FAILED" | "ALREADY_STORED";
  failure: string | null;
  attempts: number;
}

export interface PacsSendResult {
  endpoint: string;
  instances: SentInstance[];
}

export class PacsService {
  private key: Promise<Uint8Array> | undefined;

  constructor(
    private readonly db: Database,
    private readonly store: ArtifactStore,
    private readonly uploads: ReferenceScanService,
    private readonly settings: PacsSettings,
  ) {}

  /** The configured endpoints' names. */
  endpointNames(): string[] {
    return this.settings.endpoints.map((e) => e.name);
  }

  /** QIDO-RS study search (e.g. { PatientID: "X" }); with a study UID, that study's series. */
  async search(endpointName: string, query: { studyInstanceUid?: string | null; filters?: Readonly<Record<string, string>> }): Promise<DicomJson[]> {
    requireScope("MEDICAL", "endpoint", endpointName);
    const client = this.client(endpointName);
    if (query.studyInstanceUid) {
      assertUid(query.studyInstanceUid, "studyInstanceUid");
      return client.searchSeries(query.studyInstanceUid, query.filters ?? {});
    }
    return client.searchStudies(query.filters ?? {});
  }

  /**
   * Fetches a study (every series) or one series and stores each instance as a reference scan through the
   * upload path. Instances the reader refuses are reported with the upload's code; a network failure ends
   * the import with a PacsError (what was stored before stays, complete, and is recognised next time).
   */
  async importFromPacs(endpointName: string, studyInstanceUid: string, seriesInstanceUid?: string | null): Promise<PacsImportResult> {
    requireScope("MEDICAL", "endpoint", endpointName);
    assertUid(studyInstanceUid, "studyInstanceUid");
    if (seriesInstanceUid) assertUid(seriesInstanceUid, "seriesInstanceUid");
    const client = this.client(endpointName);
    const seriesUids = seriesInstanceUid
      ? [seriesInstanceUid]
      : (await client.searchSeries(studyInstanceUid)).map((s) => stringValue(s, "0020000E")).filter((uid): uid is string => uid !== null && UID.test(uid));
    const wanted: { series: string; instance: string; instanceNumber: number | null }[] = [];
    for (const series of seriesUids) {
      for (const instance of await client.searchInstances(studyInstanceUid, series)) {
        const sop = stringValue(instance, "00080018");
        if (sop && UID.test(sop)) wanted.push({ series, instance: sop, instanceNumber: numberValue(instance, "00200013") });
      }
    }
    if (wanted.length === 0) throw new PacsError("NOTHING_TO_TRANSFER", `${endpointName}: no instances found for the ${seriesInstanceUid ? "series" : "study"}`);
    if (wanted.length > this.settings.maxInstancesPerImport) {
      throw new PacsError("TOO_LARGE", `${endpointName}: ${wanted.length} instances; one import takes at most ${this.settings.maxInstancesPerImport} (import series by series)`);
    }
    const key = await this.originKey();
    const instances: ImportedInstance[] = [];
    for (const item of wanted) {
      const origin = {
        endpoint: endpointName,
        studyUidHash: keyedHash(key, endpointName, studyInstanceUid),
        seriesUidHash: keyedHash(key, endpointName, item.series),
        sopInstanceUidHash: keyedHash(key, endpointName, item.instance),
      };
      const existing = await this.db.prisma.pacsImport.findUnique({ where: { endpoint_sopInstanceUidHash: { endpoint: endpointName, sopInstanceUidHash: origin.sopInstanceUidHash } } });
      if (existing) {
        instances.push({ status: "ALREADY_IMPORTED", referenceScanId: existing.referenceScanId, instanceNumber: item.instanceNumber });
        continue;
      }
      const bytes = await client.retrieveInstance({ study: studyInstanceUid, series: item.series, instance: item.instance }, this.settings.maxUploadBytes);
      try {
        const scan = await this.uploads.upload(bytes, {
          domain: "MEDICAL",
          recordOrigin: async (tx, referenceScanId) => {
            await tx.pacsImport.create({ data: { ...origin, referenceScanId } });
          },
        });
        instances.push({ status: "IMPORTED", referenceScanId: scan.id, instanceNumber: item.instanceNumber });
      } catch (error) {
        if (!(error instanceof UploadRefusedError)) throw error;
        instances.push({ status: "REFUSED", code: error.dicomCode ?? error.code, message: error.message, instanceNumber: item.instanceNumber });
      }
    }
    return { endpoint: endpointName, instances };
  }

  /**
   * Sends the synthetic DICOM files (images and SEG objects) of a job, an insertion or chosen samples with
   * STOW-RS. Files already STORED at this endpoint are not sent again; the rest go in batches and each
   * instance's outcome is stored. Refused before anything is sent: no DICOM among them, or any file without
   * Synthetic Data = YES.
   */
  async sendToPacs(endpointName: string, target: SendTarget): Promise<PacsSendResult> {
    requireScope("MEDICAL", "endpoint", endpointName);
    const client = this.client(endpointName);
    const files = await this.dicomFilesOf(target);
    if (files.length === 0) throw new PacsError("NOTHING_TO_TRANSFER", "no DICOM files among the chosen samples or insertion");
    const outgoing: { artifactId: string; sha256: string; sopInstanceUid: string; bytes: Uint8Array }[] = [];
    for (const file of files) {
      const bytes = new Uint8Array(await this.store.readBytes(file.sha256));
      const { synthetic, sopInstanceUid } = syntheticMarkers(bytes);
      if (synthetic !== "YES" || !sopInstanceUid) {
        throw new PacsError("NOT_SYNTHETIC", `file ${file.sha256.slice(0, 12)} has Synthetic Data ${synthetic ?? "absent"}${sopInstanceUid ? "" : " and no SOP Instance UID"}; only synthetic instances are sent`);
      }
      outgoing.push({ ...file, sopInstanceUid, bytes });
    }
    const previous = new Map(
      (await this.db.prisma.pacsSend.findMany({ where: { endpoint: endpointName, artifactId: { in: outgoing.map((f) => f.artifactId) } } })).map((row) => [row.artifactId, row]),
    );
    const results: SentInstance[] = [];
    const pending = outgoing.filter((file) => {
      const row = previous.get(file.artifactId);
      if (row?.status !== "STORED") return true;
      results.push({ sopInstanceUid: file.sopInstanceUid, sha256: file.sha256, status: "ALREADY_STORED", failure: null, attempts: row.attempts });
      return false;
    });
    const batchSize = this.settings.stowBatchSize ?? STOW_BATCH;
    for (let start = 0; start < pending.length; start += batchSize) {
      const batch = pending.slice(start, start + batchSize);
      let outcomes: Map<string, string | null>;
      try {
        const answer = await client.store(batch);
        outcomes = new Map(answer.instances.map((o) => [o.sopInstanceUid, o.status === "STORED" ? null : o.reason]));
      } catch (error) {
        if (!(error instanceof PacsError)) throw error;
        // the request failed as a whole (after retries): every instance of the batch failed with its reason
        outcomes = new Map(batch.map((f) => [f.sopInstanceUid, `${error.code}: ${error.message}`]));
      }
      for (const file of batch) {
        const failure = outcomes.has(file.sopInstanceUid) ? (outcomes.get(file.sopInstanceUid) ?? null) : "no outcome reported";
        const status = failure === null ? "STORED" : "FAILED";
        const row = await this.db.prisma.pacsSend.upsert({
          where: { endpoint_artifactId: { endpoint: endpointName, artifactId: file.artifactId } },
          create: { endpoint: endpointName, artifactId: file.artifactId, sopInstanceUid: file.sopInstanceUid, status, failure, attempts: 1 },
          update: { status, failure, attempts: { increment: 1 } },
        });
        results.push({ sopInstanceUid: file.sopInstanceUid, sha256: file.sha256, status, failure, attempts: row.attempts });
      }
    }
    return { endpoint: endpointName, instances: results };
  }

  private client(endpointName: string): DicomWebClient {
    const endpoint = this.settings.endpoints.find((e) => e.name === endpointName);
    if (!endpoint) {
      const known = this.endpointNames();
      throw new PacsError("UNKNOWN_ENDPOINT", `no PACS endpoint "${endpointName}" is configured (${known.length > 0 ? `known: ${known.join(", ")}` : "RAREFORGE_PACS_ENDPOINTS is empty"})`);
    }
    return new DicomWebClient(endpoint, this.settings.client);
  }

  private originKey(): Promise<Uint8Array> {
    this.key ??= deidentificationKey(this.settings.dataDir);
    return this.key;
  }

  /** The DICOM artifacts (main files and DICOM companions) of the target, in a stable order. */
  private async dicomFilesOf(target: SendTarget): Promise<{ artifactId: string; sha256: string }[]> {
    const prisma = this.db.prisma;
    let rows: { artifact: { id: string; sha256: string; mediaType: string } | null; files: unknown }[];
    if ("insertionId" in target) {
      const insertion = await prisma.pathologyInsertion.findUnique({ where: { id: target.insertionId }, select: { artifact: true, files: true } });
      if (!insertion) throw new NotFoundError("pathology insertion", target.insertionId);
      rows = [insertion];
    } else if ("jobId" in target) {
      const job = await prisma.generationJob.findUnique({ where: { id: target.jobId }, select: { id: true } });
      if (!job) throw new NotFoundError("generation job", target.jobId);
      rows = await prisma.sample.findMany({ where: { jobId: target.jobId, status: "OK" }, select: { artifact: true, files: true }, orderBy: { index: "asc" } });
    } else {
      if (target.sampleIds.length === 0) throw new ValidationError([{ path: "sampleIds", message: "name at least one sample" }]);
      const found = await prisma.sample.findMany({ where: { id: { in: [...target.sampleIds] } }, select: { id: true, artifact: true, files: true } });
      const missing = target.sampleIds.find((id) => !found.some((s) => s.id === id));
      if (missing) throw new NotFoundError("sample", missing);
      rows = target.sampleIds.map((id) => found.find((s) => s.id === id)!);
    }
    const hashes: string[] = [];
    for (const row of rows) {
      if (row.artifact?.mediaType === "application/dicom") hashes.push(row.artifact.sha256);
      for (const file of companionFiles(row.files)) if (file.mediaType === "application/dicom") hashes.push(file.sha256);
    }
    const unique = [...new Set(hashes)];
    const artifacts = await prisma.artifact.findMany({ where: { sha256: { in: unique } }, select: { id: true, sha256: true } });
    return unique.map((sha256) => ({ sha256, artifactId: artifacts.find((a) => a.sha256 === sha256)!.id }));
  }
}

function companionFiles(files: unknown): { sha256: string; mediaType: string }[] {
  if (!Array.isArray(files)) return [];
  return files.filter((f): f is { sha256: string; mediaType: string } => typeof f?.sha256 === "string" && typeof f?.mediaType === "string");
}

function assertUid(value: string, path: string): void {
  if (!UID.test(value) || value.length > 64) throw new ValidationError([{ path, message: "a DICOM UID: digits and dots, at most 64 characters" }]);
}

function numberValue(dataSet: DicomJson, tag: string): number | null {
  const value = Number(stringValue(dataSet, tag) ?? NaN);
  return Number.isFinite(value) ? value : null;
}

/** HMAC-SHA256 of an endpoint's UID under the data directory's key: the same UID maps to the same hash, irreversibly. */
function keyedHash(key: Uint8Array, endpoint: string, uid: string): string {
  return createHmac("sha256", key).update(`pacs-origin\0${endpoint}\0${uid}`).digest("hex");
}

/** Synthetic Data (0008,001C) and SOP Instance UID (0008,0018) of a DICOM file, read up to the pixel data. */
export function syntheticMarkers(bytes: Uint8Array): { synthetic: string | null; sopInstanceUid: string | null } {
  try {
    const dataSet = dicomParser.parseDicom(bytes, { untilTag: "x7fe00010" });
    return { synthetic: dataSet.string("x0008001c")?.trim() ?? null, sopInstanceUid: dataSet.string("x00080018")?.trim() ?? null };
  } catch {
    return { synthetic: null, sopInstanceUid: null };
  }
}
