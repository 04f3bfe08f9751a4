// The HTTP surface against browsers on other sites and hostile clients (issue 18): no cross-site form posts,
// no CORS unless configured, no foreign Host names, the configured upload limit, fixed messages for
// malformed requests — and the limits that must keep holding.
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { readSharedDicom, sharedDicomAvailable } from "../imaging/helpers/shared-dicom.ts";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (fetch will not send a foreign Host); `body` may be left unsent. */
function rawRequest(base: string, target: string, options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    // A connection of its own: a request left without its body must not hand its socket to the next one.
    const req = http.request({ host: url.hostname, port: url.port, path: target, method: options.method ?? "GET", headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const UPLOAD_LIMIT = 25_000_000;

const deerSpec = (name: string) => ({
  name,
  domain: "automotive",
  model: "road-hazards",
  parameters: { hazard: "animal", weather: "fog", timeOfDay: "night", hazardCx: 0.5, hazardCy: 0.62, hazardW: 0.15, hazardH: 0.15 },
});

describe("HTTP hardening", () => {
  let dataDir: string;
  let db: Database;
  let api: TestService;
  let port: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-http-"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, {
      dataDir,
      runWorker: false,
      importLibraryOnStart: false,
      // yoga's own multipart default is 25,000,000 bytes: a limit at it shows which limit a client meets.
      maxUploadBytes: UPLOAD_LIMIT,
      corsOrigins: ["http://gallery.example"],
      allowedHosts: ["api", "rareforge.example:8443"],
    });
    port = new URL(api.service.url).port;
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const createScenario = async (name: string): Promise<string> => {
    const created = await api.graphql(`mutation($spec: JSON!) { createScenario(spec: $spec) { ... on MutationCreateScenarioSuccess { data { id uuid } } ... on Error { message } } }`, {
      spec: deerSpec(name),
    });
    expect(created.errors).toBeUndefined();
    return created.data!.createScenario.data.id;
  };
  const archivedAt = async (id: string) => {
    const uuid = Buffer.from(id, "base64").toString("utf8").replace(/^Scenario:/, "");
    return (await db.prisma.scenario.findUniqueOrThrow({ where: { id: uuid } })).archivedAt;
  };
  const archiveMutation = (id: string) => `mutation{archiveScenario(id:"${id}"){__typename}}`;

  /** A GraphQL multipart request (multipart request spec) uploading one file. */
  const uploadForm = (query: string, file: Uint8Array, name: string) => {
    const form = new FormData();
    form.set("operations", JSON.stringify({ query, variables: { file: null } }));
    form.set("map", JSON.stringify({ 0: ["variables.file"] }));
    form.set("0", new Blob([Buffer.from(file)]), name);
    return form;
  };

  describe("CORS", () => {
    it("answers a preflight from an unlisted origin without any CORS header", async () => {
      const preflight = await api.fetch(`/graphql`, {
        method: "OPTIONS",
        headers: { origin: "http://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      expect(preflight.headers.get("access-control-allow-credentials")).toBeNull();
      const post = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { origin: "http://evil.example", "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      expect(post.headers.get("access-control-allow-origin")).toBeNull();
    });

    it("allows an origin from RAREFORGE_CORS_ORIGINS, without credentials", async () => {
      const preflight = await api.fetch(`/graphql`, {
        method: "OPTIONS",
        headers: { origin: "http://gallery.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).toBe("http://gallery.example");
      expect(preflight.headers.get("access-control-allow-credentials")).toBeNull();
      expect(preflight.headers.get("access-control-allow-headers")).toMatch(/apollo-require-preflight/);
    });
  });

  describe("cross-site request forgery", () => {
    it("refuses an application/x-www-form-urlencoded mutation from another origin, and the scenario stays unarchived", async () => {
      const id = await createScenario("csrf-form-target");
      const response = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ query: archiveMutation(id) }).toString(),
      });
      expect(response.status).toBe(403);
      expect(await archivedAt(id)).toBeNull();
    });

    it("refuses a multipart/form-data mutation without a CSRF header, and runs it with apollo-require-preflight", async () => {
      const id = await createScenario("csrf-multipart-target");
      const form = () => {
        const body = new FormData();
        body.set("operations", JSON.stringify({ query: archiveMutation(id) }));
        body.set("map", "{}");
        return body;
      };
      const forged = await api.fetch(`/graphql`, { method: "POST", headers: { origin: "http://evil.example" }, body: form() });
      expect(forged.status).toBe(403);
      expect(await archivedAt(id)).toBeNull();

      const client = await api.fetch(`/graphql`, { method: "POST", headers: { "apollo-require-preflight": "true" }, body: form() });
      expect(await client.json()).toEqual({ data: { archiveScenario: { __typename: "MutationArchiveScenarioSuccess" } } });
      expect(await archivedAt(id)).not.toBeNull();
    });

    it("needs no header for JSON requests (a browser preflights them)", async () => {
      const result = await api.graphql(`{ __typename }`);
      expect(result).toMatchObject({ status: 200, data: { __typename: "Query" } });
    });
  });

  describe("Host allow-list", () => {
    it.each(["/graphql", "/artifacts/" + "0".repeat(64), "/exports/00000000-0000-4000-8000-000000000000.zip", "/gallery/"])(
      "refuses %s under a foreign Host name with 421 and a plain message",
      async (route) => {
        const response = await rawRequest(api.service.url, route, { headers: { host: `evil.example:${port}` } });
        expect(response.status).toBe(421);
        expect(response.headers["content-type"]).toMatch(/^text\/plain/);
        expect(response.body).toMatch(/RAREFORGE_ALLOWED_HOSTS/);
      },
    );

    it("serves the loopback names on the listening port and RAREFORGE_ALLOWED_HOSTS", async () => {
      const status = async (host: string) => (await rawRequest(api.service.url, "/gallery/", { headers: { host } })).status;
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, "api", "api:4000", "rareforge.example:8443"]) expect(await status(host), host).toBe(200);
      for (const host of ["localhost:1", "rareforge.example", "rareforge.example:80", "api.evil.example", "evil.example"]) expect(await status(host), host).toBe(421);
    });

    it("answers health probes under any Host name", async () => {
      expect((await rawRequest(api.service.url, "/health", { headers: { host: "10.0.0.7:4000" } })).status).toBe(200);
    });
  });

  describe("upload limit", () => {
    const UPLOAD = `mutation ($file: File!) { uploadReferenceScan(file: $file) { __typename ... on UploadRefusedError { code message } } }`;

    it("answers a file one byte over RAREFORGE_MAX_UPLOAD_BYTES with the typed TOO_LARGE, not yoga's 413", async () => {
      const response = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { "apollo-require-preflight": "true" },
        body: uploadForm(UPLOAD, new Uint8Array(UPLOAD_LIMIT + 1), "big.dcm"),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { uploadReferenceScan: Record<string, string> } };
      expect(body.data.uploadReferenceScan).toMatchObject({ __typename: "UploadRefusedError", code: "TOO_LARGE" });
      expect(body.data.uploadReferenceScan.message).toMatch(/RAREFORGE_MAX_UPLOAD_BYTES/);
      expect(await db.prisma.referenceScan.count()).toBe(0);
    });

    it("refuses a multipart body beyond the body and upload limits with 413 naming both", async () => {
      const limit = api.config.maxBodyBytes + UPLOAD_LIMIT;
      const response = await rawRequest(api.service.url, "/graphql", {
        method: "POST",
        headers: { host: `127.0.0.1:${port}`, "content-type": "multipart/form-data; boundary=x", "content-length": limit + 1, "apollo-require-preflight": "true" },
      });
      expect(response.status).toBe(413);
      expect(response.body).toContain(`limit of ${limit} (RAREFORGE_MAX_BODY_BYTES + RAREFORGE_MAX_UPLOAD_BYTES)`);
    });
  });

  describe("typed results", () => {
    it("answers uploadReferenceScan selecting only __typename with its success type, as committed", async () => {
      const png = encodePng({ width: 8, height: 8, channels: 1, depth: 8, data: new Uint8Array(64).fill(90) });
      const before = await db.prisma.referenceScan.count();
      const response = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { "apollo-require-preflight": "true" },
        body: uploadForm(`mutation ($file: File!) { uploadReferenceScan(file: $file) { __typename } }`, png, "scan.png"),
      });
      expect(await response.json()).toEqual({ data: { uploadReferenceScan: { __typename: "MutationUploadReferenceScanSuccess" } } });
      expect(await db.prisma.referenceScan.count()).toBe(before + 1);
    });

    it.skipIf(!sharedDicomAvailable)("refuses insertPathology on executionProvider cuda (not loadable here) with ExecutionProviderUnavailableError", async () => {
      const uploaded = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { "apollo-require-preflight": "true" },
        body: uploadForm(`mutation ($file: File!) { uploadReferenceScan(file: $file) { ... on MutationUploadReferenceScanSuccess { data { id } } } }`, readSharedDicom("MR_small.dcm"), "mr.dcm"),
      });
      const scanId = ((await uploaded.json()) as any).data.uploadReferenceScan.data.id as string;
      const before = await db.prisma.pathologyInsertion.count();
      const result = await api.graphql(
        `mutation($id: ID!) { insertPathology(referenceScanId: $id, box: { x: 22, y: 26, width: 12, height: 10 }, parameters: { pathology: "tumour", lesionContrast: 1 }, steps: 2, seed: 1, executionProvider: "cuda") {
          __typename ... on ExecutionProviderUnavailableError { requested available message } ... on ValidationError { issues { path message } } } }`,
        { id: scanId },
      );
      expect(result.errors).toBeUndefined();
      expect(result.data!.insertPathology, JSON.stringify(result.data)).toMatchObject({ __typename: "ExecutionProviderUnavailableError", requested: "cuda", available: ["cpu", "auto"] });
      expect(await db.prisma.pathologyInsertion.count()).toBe(before);
    });
  });

  describe("malformed requests", () => {
    it("answers malformed JSON with a fixed message that quotes nothing of the body", async () => {
      const response = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
        body: '{"query": "{ __typename }", "variables": {"token": "s3cret-t0ken"',
      });
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(text).not.toContain("s3cret");
      expect(JSON.parse(text)).toEqual({ errors: [{ message: "POST body sent invalid JSON.", extensions: { code: "BAD_REQUEST" } }] });
    });

    it("answers /gallery/%E0%A4%A (malformed percent-encoding) with 400", async () => {
      const response = await rawRequest(api.service.url, "/gallery/%E0%A4%A", { headers: { host: `127.0.0.1:${port}` } });
      expect(response.status).toBe(400);
    });
  });

  describe("limits that keep holding", () => {
    it("refuses batched operations", async () => {
      const response = await api.fetch(`/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]),
      });
      expect(response.status).toBe(400);
    });

    it("refuses a query over the token limit", async () => {
      const result = await api.graphql(`{ ${Array.from({ length: 2100 }, () => "__typename").join(" ")} }`);
      expect(result.data).toBeUndefined();
      expect(result.errors?.[0]?.message).toMatch(/token/i);
    });

    it.each(["/gallery/..%2F..%2Fpackage.json", "/gallery/%2e%2e/%2e%2e/package.json", "/artifacts/..%2F..%2Fpackage.json", "/exports/..%2F..%2Fpackage.json"])(
      "refuses the traversal %s",
      async (target) => {
        const response = await rawRequest(api.service.url, target, { headers: { host: `127.0.0.1:${port}`, ...api.auth } });
        expect(response.status).toBe(404);
        expect(response.body).not.toContain('"name": "rareforge"');
      },
    );
  });
});
