// registerDetector(file:): an Ultralytics export uploaded over GraphQL multipart is stored content-addressed in the
// detectors directory and registered from there; a refused file (not a detector, too large) leaves no file and no row.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { YOLOV8N_INT8, sharedDetectorAvailable } from "./helpers/shared-data.ts";

const REGISTER = `mutation($file: File!) { registerDetector(file: $file) { __typename
  ... on MutationRegisterDetectorSuccess { data { name kind classNames source } }
  ... on DetectorUnusableError { code message } ... on ValidationError { issues { path message } } } }`;

describe("registering an uploaded detector", () => {
  let dataDir: string;
  let db: Database;
  let api: TestService;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-detector-upload-"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { dataDir, importLibraryOnStart: false, runWorker: false, maxUploadBytes: 16 * 1024 * 1024 });
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = async (bytes: Uint8Array, name: string) => {
    const form = new FormData();
    form.set("operations", JSON.stringify({ query: REGISTER, variables: { file: null } }));
    form.set("map", JSON.stringify({ 0: ["variables.file"] }));
    form.set("0", new Blob([Buffer.from(bytes)]), name);
    const response = await api.fetch("/graphql", { method: "POST", body: form, headers: { "apollo-require-preflight": "true" } });
    const body = (await response.json()) as { data?: { registerDetector: Record<string, any> }; errors?: unknown };
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    return body.data!.registerDetector;
  };
  const uploadedFiles = () => (existsSync(path.join(dataDir, "detectors", "uploaded")) ? readdirSync(path.join(dataDir, "detectors", "uploaded")) : []);

  it("refuses bytes that are not an ONNX detector, keeping no file and no row", async () => {
    const refused = await upload(new TextEncoder().encode("not an onnx model"), "junk.onnx");
    expect(refused.__typename).toBe("DetectorUnusableError");
    expect(uploadedFiles()).toEqual([]);
    expect(await db.prisma.detectorPackage.count({ where: { domain: null } })).toBe(0);
  });

  it("refuses giving both a path and a file, or neither", async () => {
    const neither = await api.graphql(`mutation { registerDetector { __typename ... on ValidationError { issues { message } } } }`);
    expect(neither.data?.registerDetector).toEqual({ __typename: "ValidationError", issues: [{ message: "give exactly one of path and file" }] });
  });

  it.skipIf(!sharedDetectorAvailable)("stores the real YOLOv8n export as uploaded/<sha256>.onnx and registers it from there", { timeout: 120_000 }, async () => {
    const bytes = new Uint8Array(readFileSync(YOLOV8N_INT8));
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const registered = await upload(bytes, "yolov8n_int8.onnx");
    expect(registered.__typename).toBe("MutationRegisterDetectorSuccess");
    expect(registered.data).toMatchObject({ name: "yolov8n_int8", kind: "ultralytics-onnx", source: { kind: "ultralytics-onnx", path: `uploaded/${sha256}.onnx` } });
    expect(registered.data.classNames).toHaveLength(80);
    expect(uploadedFiles()).toEqual([`${sha256}.onnx`]);
  });

  it("refuses an upload over the limit with too-large, before reading it", async () => {
    // one byte over the upload limit: the multipart body (limit + RAREFORGE_MAX_BODY_BYTES) still gets through
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    const refused = await upload(big, "big.onnx");
    expect(refused.__typename).toBe("DetectorUnusableError");
    expect(refused.code).toBe("too-large");
  });
});
