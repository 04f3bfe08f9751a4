// Domain scopes: for a key without the medical scope, medical data do not exist — not in GraphQL lists, lookups or
// relay nodes, not at /artifacts (with its header or a signed URL), not at /exports, not in the audit log — while
// a key with the scope sees all of it, and reads and downloads of medical data are audited.
import { encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { seedJob, type SeededJob } from "../export/seed.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

for (const backend of testBackends()) {
  describe(`domain scopes (${backend.name})`, () => {
    let db: Database;
    let api: TestService;
    let road: SeededJob;
    let brain: SeededJob;
    let scanId: string;
    let scanSha: string;
    let automotiveViewer: string;
    let automotiveAdmin: string;
    let medicalViewer: string;

    beforeAll(async () => {
      db = await backend.open();
      api = await startTestService(db, { importLibraryOnStart: false, runWorker: false });
      const store = api.service.services.store;
      road = await seedJob(db, store, { scenario: "deer-crossing-night-fog", count: 3 });
      brain = await seedJob(db, store, { scenario: "small-tumour-near-ventricle", count: 2, medicalFiles: true });
      const png = encodePng({ width: 32, height: 32, channels: 1, depth: 8, data: new Uint8Array(32 * 32).fill(90) });
      const scan = await api.service.services.referenceScans.upload(png);
      scanId = scan.id;
      scanSha = (await db.prisma.artifact.findUniqueOrThrow({ where: { id: scan.artifactId } })).sha256;
      automotiveViewer = await api.createKey("VIEWER", ["AUTOMOTIVE"]);
      automotiveAdmin = await api.createKey("ADMIN", ["AUTOMOTIVE"]);
      medicalViewer = await api.createKey("VIEWER", ["MEDICAL"]);
    }, 120_000);
    afterAll(async () => {
      await api?.close();
      await db?.close();
    });

    const as = (key: string) => ({
      graphql: (query: string, variables?: Record<string, unknown>) => api.graphqlAs(key, query, variables),
      fetch: (path: string) => fetch(`${api.service.url}${path}`, { headers: { authorization: `Bearer ${key}` } }),
    });

    it("a viewer without the medical scope finds no medical scenario, sample, scan or node", async () => {
      const viewer = as(automotiveViewer);
      const lists = await viewer.graphql(`{
        scenarios(first: 50) { totalCount edges { node { name domain } } }
        samples(first: 50) { totalCount edges { node { uuid } } }
        referenceScans(first: 10) { totalCount }
        jobs(first: 10) { totalCount }
      }`);
      expect(lists.errors).toBeUndefined();
      expect(lists.data!.scenarios.edges.map((e: any) => e.node.domain)).toEqual(["AUTOMOTIVE"]);
      expect(lists.data!.samples.totalCount).toBe(road.samples.length);
      expect(lists.data!.samples.edges.map((e: any) => e.node.uuid).sort()).toEqual(road.samples.map((s) => s.id).sort());
      expect(lists.data!.referenceScans.totalCount).toBe(0);
      expect(lists.data!.jobs.totalCount).toBe(1);

      const lookups = await viewer.graphql(
        `query($scenario: ID!, $sample: ID!, $scan: ID!, $node: ID!) {
          scenario(id: $scenario) { __typename }
          sample(id: $sample) { __typename }
          referenceScan(id: $scan) { __typename }
          node(id: $node) { id }
        }`,
        { scenario: globalId("Scenario", brain.scenarioId), sample: globalId("Sample", brain.samples[0]!.id), scan: globalId("ReferenceScan", scanId), node: globalId("Sample", brain.samples[0]!.id) },
      );
      expect(lookups.data?.scenario.__typename).toBe("NotFoundError");
      expect(lookups.data?.sample.__typename).toBe("NotFoundError");
      expect(lookups.data?.referenceScan.__typename).toBe("NotFoundError");
      expect(lookups.data?.node).toBeNull();
      expect(JSON.stringify(lookups)).not.toMatch(/forbidden/i);
    });

    it("its progress subscription to a medical job ends as one to a job that does not exist, without an event", async () => {
      const response = await fetch(`${api.service.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${automotiveViewer}` },
        body: JSON.stringify({ query: `subscription($id: ID!) { jobProgress(jobId: $id) { status count } }`, variables: { id: globalId("GenerationJob", brain.jobId) } }),
      });
      const text = await response.text();
      expect(text).not.toMatch(/"jobProgress":\{/);
      // exactly what a job that does not exist gives
      const unknown = await fetch(`${api.service.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${automotiveViewer}` },
        body: JSON.stringify({ query: `subscription($id: ID!) { jobProgress(jobId: $id) { status count } }`, variables: { id: globalId("GenerationJob", "00000000-0000-4000-8000-000000000000") } }),
      });
      expect(text).toBe(await unknown.text());
      // the admin sees the same job's progress
      const admin = await fetch(`${api.service.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", ...api.auth },
        body: JSON.stringify({ query: `subscription($id: ID!) { jobProgress(jobId: $id) { status count } }`, variables: { id: globalId("GenerationJob", brain.jobId) } }),
      });
      expect(await admin.text()).toMatch(/"jobProgress":\{"status":"[A-Z]+","count":2\}/);
    });

    it("the same viewer cannot generate from, export or score a medical scenario: it is not found", async () => {
      const operator = as(await api.createKey("OPERATOR", ["AUTOMOTIVE"]));
      const generate = await operator.graphql(`mutation($id: ID!) { requestGeneration(scenarioId: $id, count: 1, batchSize: 1, seed: 1) { __typename } }`, { id: globalId("Scenario", brain.scenarioId) });
      expect(generate.data?.requestGeneration.__typename).toBe("NotFoundError");
      const exported = await operator.graphql(`mutation($id: ID!) { exportDataset(format: DICOM, filter: { scenarioId: $id }) { __typename } }`, { id: brain.scenarioId });
      expect(exported.data?.exportDataset.__typename, JSON.stringify(exported)).toBe("NotFoundError");
    });

    it("medical artifacts are 404 for it, with its key or with a signed URL whose scopes were altered", async () => {
      const viewer = as(automotiveViewer);
      const medicalFiles = [brain.samples[0]!.sha256, ...brain.samples[0]!.files.map((f) => f.sha256), scanSha];
      for (const sha of medicalFiles) expect((await viewer.fetch(`/artifacts/${sha}`)).status, sha).toBe(404);
      expect((await viewer.fetch(`/artifacts/${road.samples[0]!.sha256}`)).status).toBe(200);

      // the admin's signed URL works without a header; the same URL with other scopes or another file does not
      const signed = await api.graphql(`query($id: ID!) { sample(id: $id) { ... on QuerySampleSuccess { data { artifact { url } } } } }`, { id: globalId("Sample", brain.samples[0]!.id) });
      const url: string = signed.data!.sample.data.artifact.url;
      expect(url).toMatch(/^\/artifacts\/[0-9a-f]{64}\?kid=.*&sig=[0-9a-f]{64}$/);
      expect((await fetch(`${api.service.url}${url}`)).status).toBe(200);
      expect((await fetch(`${api.service.url}${url.replace(/scopes=[^&]*/, "scopes=AUTOMOTIVE%2CMEDICAL%2CX")}`)).status).toBe(401);
      expect((await fetch(`${api.service.url}${url.replace(/\/artifacts\/[0-9a-f]{64}/, `/artifacts/${scanSha}`)}`)).status).toBe(401);
      expect((await fetch(`${api.service.url}/artifacts/${brain.samples[0]!.sha256}`)).status).toBe(401);

      // a signed URL handed to an automotive key carries its scopes: it cannot open a medical file
      const viewerSigned = await viewer.graphql(`query($id: ID!) { sample(id: $id) { ... on QuerySampleSuccess { data { artifact { url } } } } }`, { id: globalId("Sample", road.samples[0]!.id) });
      const roadUrl: string = viewerSigned.data!.sample.data.artifact.url;
      expect((await fetch(`${api.service.url}${roadUrl}`)).status).toBe(200);
    });

    it("a revoked key's signed URLs stop working", async () => {
      const key = await api.createKey("VIEWER", ["AUTOMOTIVE"]);
      const signed = await api.graphqlAs(key, `query($id: ID!) { sample(id: $id) { ... on QuerySampleSuccess { data { artifact { url } } } } }`, { id: globalId("Sample", road.samples[1]!.id) });
      const url: string = signed.data!.sample.data.artifact.url;
      expect((await fetch(`${api.service.url}${url}`)).status).toBe(200);
      const me = await api.graphqlAs(key, `{ me { keyId } }`);
      await api.graphql(`mutation($id: String!) { revokeApiKey(id: $id) { __typename } }`, { id: me.data!.me.keyId });
      expect((await fetch(`${api.service.url}${url}`)).status).toBe(401);
      expect((await api.graphqlAs(key, `{ me { keyId } }`)).status).toBe(401);
    });

    it("an export of medical samples is not found for it, at /graphql and at /exports", async () => {
      const created = await api.graphql(`mutation($id: ID!) { exportDataset(format: DICOM, filter: { scenarioId: $id }) { ... on MutationExportDatasetSuccess { data { id url sampleCount } } } }`, { id: brain.scenarioId });
      const exportRow = created.data!.exportDataset.data;
      expect(exportRow.sampleCount).toBe(brain.samples.length);
      const viewer = as(automotiveViewer);
      const found = await viewer.graphql(`query($id: ID!) { datasetExport(id: $id) { __typename } }`, { id: exportRow.id });
      expect(found.data?.datasetExport.__typename, JSON.stringify(found)).toBe("NotFoundError");
      expect((await viewer.fetch(exportRow.url)).status).toBe(404);
      const download = await as(medicalViewer).fetch(exportRow.url);
      expect(download.status).toBe(200);
      await download.arrayBuffer();
    });

    it("audits reads and downloads of medical data, and shows those entries only to medical keys", async () => {
      const medical = as(medicalViewer);
      await medical.graphql(`query($id: ID!) { sample(id: $id) { __typename } }`, { id: globalId("Sample", brain.samples[1]!.id) });
      expect((await medical.fetch(`/artifacts/${scanSha}`)).status).toBe(200);
      const entries = await api.graphql(`{ auditLog(first: 100) { ... on QueryAuditLogSuccess { data { kind operation targetIds outcome domain keyPrefix } } } }`);
      expect(entries.errors, JSON.stringify(entries.errors)).toBeUndefined();
      const log = entries.data!.auditLog.data as Array<{ kind: string; operation: string; targetIds: string[]; domain: string | null }>;
      expect(log.some((e) => e.kind === "query" && e.operation === "sample" && e.domain === "MEDICAL")).toBe(true);
      expect(log.some((e) => e.kind === "download" && e.operation === "GET /artifacts" && e.targetIds.includes(scanSha))).toBe(true);
      expect(log.some((e) => e.kind === "download" && e.operation === "GET /exports")).toBe(true);

      const automotiveLog = await api.graphqlAs(automotiveAdmin, `{ auditLog(first: 100) { ... on QueryAuditLogSuccess { data { domain } } } }`);
      const seen = automotiveLog.data!.auditLog.data as Array<{ domain: string | null }>;
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.some((e) => e.domain === "MEDICAL")).toBe(false);
    });

    it("anonymous requests get 401 on /graphql, /artifacts and /exports; health and the gallery's static page stay open", async () => {
      const anonymous = (path: string, init?: RequestInit) => fetch(`${api.service.url}${path}`, init);
      expect((await anonymous("/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ me { role } }" }) })).status).toBe(401);
      expect((await anonymous("/graphql?query=%7Bme%7Brole%7D%7D")).status).toBe(401);
      expect((await anonymous(`/artifacts/${road.samples[0]!.sha256}`)).status).toBe(401);
      expect((await anonymous("/exports/00000000-0000-4000-8000-000000000000.zip")).status).toBe(401);
      const wrongKey = await fetch(`${api.service.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer rf_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, body: "{}" });
      expect(wrongKey.status).toBe(401);
      expect(wrongKey.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await anonymous("/health")).status).toBe(200);
      expect((await anonymous("/gallery/")).status).toBe(200);
    });
  });
}
