// A DICOMweb client (PS3.18): QIDO-RS searches, WADO-RS retrieval of single instances and STOW-RS stores.
// Every response is read under a byte limit before it is parsed, every request has the endpoint's timeout,
// and transient failures (network, timeout, 408, 429, 5xx) are retried with exponential back-off.
import { MultipartParseError, parseMultipartStream } from "@remix-run/multipart-parser";
import { randomBytes } from "node:crypto";
import type { PacsEndpoint } from "./endpoints/index.ts";
import { PacsError } from "./errors.ts";

/** A DICOM JSON data set (PS3.18 F.2): tag "GGGGEEEE" -> { vr, Value? }. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] } | undefined>;

/** The outcome of one instance in a STOW-RS store. */
export type StowInstanceOutcome =
  | { sopInstanceUid: string; status: "STORED" }
  | { sopInstanceUid: string; status: "FAILED"; reason: string };

export interface StowResult {
  httpStatus: number;
  instances: StowInstanceOutcome[];
}

/** Largest QIDO-RS answer read (a search result is JSON about instances, not pixels). */
const MAX_SEARCH_BYTES = 16 * 1024 * 1024;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export interface DicomWebClientOptions {
  /** Milliseconds before the first retry; doubled per attempt (tests shorten it). */
  retryDelayMs?: number;
  fetch?: typeof fetch;
}

export class DicomWebClient {
  private readonly retryDelayMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(
    readonly endpoint: PacsEndpoint,
    options: DicomWebClientOptions = {},
  ) {
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** QIDO-RS: studies matching the query (e.g. { PatientID: "X", StudyDate: "20240101-" }). */
  searchStudies(query: Readonly<Record<string, string>> = {}): Promise<DicomJson[]> {
    return this.search(["studies"], query);
  }

  searchSeries(studyInstanceUid: string, query: Readonly<Record<string, string>> = {}): Promise<DicomJson[]> {
    return this.search(["studies", studyInstanceUid, "series"], query);
  }

  searchInstances(studyInstanceUid: string, seriesInstanceUid: string): Promise<DicomJson[]> {
    return this.search(["studies", studyInstanceUid, "series", seriesInstanceUid, "instances"], {});
  }

  /** WADO-RS: one instance as stored (any transfer syntax), refused past maxBytes before it is all read. */
  async retrieveInstance(uids: { study: string; series: string; instance: string }, maxBytes: number): Promise<Uint8Array> {
    const url = this.url(["studies", uids.study, "series", uids.series, "instances", uids.instance]);
    const response = await this.request(url, { method: "GET", headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } }, "retrieve");
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) {
      await response.body?.cancel();
      throw new PacsError("TOO_LARGE", `${this.endpoint.name}: instance ${uids.instance} is ${declared} bytes; the limit is ${maxBytes}`);
    }
    const boundary = multipartBoundary(response.headers.get("content-type"));
    if (!boundary || !response.body) {
      await response.body?.cancel();
      throw new PacsError("BAD_RESPONSE", `${this.endpoint.name}: WADO-RS answered ${response.headers.get("content-type") ?? "no content type"}, not multipart/related`);
    }
    const parts: Uint8Array[] = [];
    try {
      for await (const part of parseMultipartStream(response.body, { boundary, maxFileSize: maxBytes, maxTotalSize: maxBytes + 64 * 1024, maxParts: 2 })) {
        parts.push(part.bytes);
      }
    } catch (error) {
      if (error instanceof MultipartParseError) {
        const tooLarge = /exceed/i.test(error.message);
        throw new PacsError(tooLarge ? "TOO_LARGE" : "BAD_RESPONSE", `${this.endpoint.name}: instance ${uids.instance}: ${tooLarge ? `larger than the limit of ${maxBytes} bytes` : error.message}`);
      }
      throw error;
    }
    if (parts.length !== 1 || !parts[0]) throw new PacsError("BAD_RESPONSE", `${this.endpoint.name}: WADO-RS returned ${parts.length} parts for one instance`);
    return parts[0];
  }

  /** STOW-RS: stores the files in one request; the answer says which instances were stored and which failed. */
  async store(files: readonly { sopInstanceUid: string; bytes: Uint8Array }[], studyInstanceUid?: string): Promise<StowResult> {
    const boundary = `rareforge-${randomBytes(12).toString("hex")}`;
    const body = multipartRelated(files.map((f) => f.bytes), boundary);
    const url = this.url(studyInstanceUid ? ["studies", studyInstanceUid] : ["studies"]);
    const response = await this.request(
      url,
      { method: "POST", headers: { "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}`, Accept: "application/dicom+json" }, body },
      "store",
      // 400 and 409 answers list per-instance failures (PS3.18 10.5.3): results, not errors
      (status) => status === 409 || status === 400,
    );
    const text = await readLimited(response, MAX_SEARCH_BYTES, this.endpoint.name);
    const answer = parseJson(text, this.endpoint.name) as DicomJson | DicomJson[];
    const dataSet = Array.isArray(answer) ? answer[0] ?? {} : answer ?? {};
    const stored = new Set(sequenceItems(dataSet, "00081199").map((item) => stringValue(item, "00081155")).filter((uid): uid is string => uid !== null));
    const failed = new Map<string, string>();
    for (const item of sequenceItems(dataSet, "00081198")) {
      const uid = stringValue(item, "00081155");
      if (uid) failed.set(uid, failureReason(item));
    }
    const instances = files.map((f): StowInstanceOutcome => {
      if (stored.has(f.sopInstanceUid) && !failed.has(f.sopInstanceUid)) return { sopInstanceUid: f.sopInstanceUid, status: "STORED" };
      return { sopInstanceUid: f.sopInstanceUid, status: "FAILED", reason: failed.get(f.sopInstanceUid) ?? `not in the STOW-RS answer's ReferencedSOPSequence (HTTP ${response.status})` };
    });
    return { httpStatus: response.status, instances };
  }

  private async search(segments: string[], query: Readonly<Record<string, string>>): Promise<DicomJson[]> {
    const url = this.url(segments);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const response = await this.request(url, { method: "GET", headers: { Accept: "application/dicom+json" } }, "search");
    if (response.status === 204) return [];
    const text = await readLimited(response, MAX_SEARCH_BYTES, this.endpoint.name);
    if (text.trim() === "") return [];
    const parsed = parseJson(text, this.endpoint.name);
    if (!Array.isArray(parsed)) throw new PacsError("BAD_RESPONSE", `${this.endpoint.name}: QIDO-RS answered JSON that is not an array`);
    return parsed as DicomJson[];
  }

  private url(segments: readonly string[]): URL {
    return new URL(`${this.endpoint.url}/${segments.map(encodeURIComponent).join("/")}`);
  }

  /** One request with the endpoint's auth and timeout, retried while the failure is transient. */
  private async request(url: URL, init: RequestInit, what: string, acceptStatus: (status: number) => boolean = () => false): Promise<Response> {
    const headers = new Headers(init.headers);
    const authorization = this.endpoint.credentials.header();
    if (authorization) headers.set("Authorization", authorization);
    let lastError: PacsError | null = null;
    for (let attempt = 1; attempt <= this.endpoint.attempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** (attempt - 2)));
      let response: Response;
      try {
        response = await this.fetchImpl(url, { ...init, headers, signal: AbortSignal.timeout(this.endpoint.timeoutMs), redirect: "error" });
      } catch (error) {
        const timedOut = error instanceof DOMException && error.name === "TimeoutError";
        lastError = new PacsError(
          timedOut ? "TIMEOUT" : "UNREACHABLE",
          `${this.endpoint.name}: ${what} ${timedOut ? `timed out after ${this.endpoint.timeoutMs} ms` : `failed: ${describeFetchError(error)}`}`,
        );
        continue;
      }
      if (response.ok || acceptStatus(response.status)) return response;
      const detail = (await response.text().catch(() => "")).slice(0, 200);
      const error = new PacsError(
        response.status === 401 || response.status === 403 ? "UNAUTHORIZED" : response.status === 404 ? "NOT_FOUND" : "HTTP",
        `${this.endpoint.name}: ${what} answered HTTP ${response.status}${detail ? `: ${detail}` : ""}`,
        response.status,
      );
      if (!RETRY_STATUSES.has(response.status)) throw error;
      lastError = error;
    }
    throw lastError ?? new PacsError("UNREACHABLE", `${this.endpoint.name}: ${what} failed`);
  }
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/** The boundary parameter of a multipart/related content type, or null. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^\s*multipart\/related\b/i.test(contentType)) return null;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

/** A multipart/related body of application/dicom parts (PS3.18 8.6.1.2). */
export function multipartRelated(parts: readonly Uint8Array[], boundary: string): Uint8Array<ArrayBuffer> {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${part.byteLength}\r\n\r\n`, "latin1"), Buffer.from(part), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`, "latin1"));
  return new Uint8Array(Buffer.concat(chunks));
}

async function readLimited(response: Response, limit: number, endpoint: string): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    size += read.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new PacsError("TOO_LARGE", `${endpoint}: answer larger than ${limit} bytes`);
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string, endpoint: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PacsError("BAD_RESPONSE", `${endpoint}: answer is not JSON`);
  }
}

function sequenceItems(dataSet: DicomJson, tag: string): DicomJson[] {
  const value = dataSet[tag]?.Value;
  return Array.isArray(value) ? (value as DicomJson[]) : [];
}

/** The first value of a string attribute of a DICOM JSON data set, or null. */
export function stringValue(dataSet: DicomJson, tag: string): string | null {
  const first = dataSet[tag]?.Value?.[0];
  return typeof first === "string" ? first : typeof first === "number" ? String(first) : null;
}

/** PS3.18 Table I.2-3 (Failure Reason, 0008,1197): the code and what it means. */
function failureReason(item: DicomJson): string {
  const code = Number(item["00081197"]?.Value?.[0] ?? NaN);
  const meanings: Record<number, string> = {
    0x0110: "processing failure",
    0x0122: "referenced SOP class not supported",
    0x0124: "not authorized",
    0xa700: "out of resources",
    0xa900: "data set does not match SOP class",
    0xc000: "cannot understand",
    0xc122: "referenced transfer syntax not supported",
    0xb000: "coercion of data elements",
    0xb007: "data set does not match SOP class (warning)",
    0xb006: "elements discarded",
  };
  if (!Number.isFinite(code)) return "failed (no reason given)";
  return `failure reason 0x${code.toString(16).toUpperCase().padStart(4, "0")}${meanings[code] ? ` (${meanings[code]})` : ""}`;
}
