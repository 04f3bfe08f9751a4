// Generation jobs end to end over real HTTP, with the in-process worker, on PGlite and (when
// TEST_DATABASE_URL is set) on PostgreSQL: progress over SSE, provenance, the artifact store and its HTTP
// route, reproduction, cancellation, and typed refusals that create no job.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { readPngRecord } from "../../src/imaging/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { createTinyScenario, jobTestDirs, REQUEST, subscribeSse, waitForJob, type JobTestDirs } from "./helpers.ts";

const PROGRESS = /* GraphQL */ `
  subscription Progress($jobId: ID!) { jobProgress(jobId: $jobId) { status count completedCount failedCount samplesPerSecond etaSeconds } }
`;

const SAMPLES = /* GraphQL */ `
  query Samples($jobId: ID, $parameters: JSON, $first: Int) {
    samples(jobId: $jobId, parameters: $parameters, first: $first) {
      totalCount
      edges { node { id index status parameters seed sampler executionProvider provenance artifact { sha256 mediaType byteSize url } } }
    }
  }
`;

const base = { sampler: "DDIM", steps: 4, guidance: 3, seed: 11 };

describe.each(testBackends())("generation jobs on $name", (backend) => {
  let db: Database;
  let api: TestService;
  let dirs: JobTestDirs;
  let scenarioId: string;

  beforeAll(async () => {
    dirs = jobTestDirs();
    db = await backend.open();
    api = await startTestService(db, { modelsDir: dirs.modelsDir, dataDir: dirs.dataDir, importLibraryOnStart: false, maxSamplesPerJob: 2000, workerConcurrency: 1 });
    scenarioId = await createTinyScenario(api);
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
    dirs?.remove();
  });

  const jobCount = () => db.prisma.generationJob.count();

  it("completes 64 samples in 8 batch tasks with provenance, stored files and monotonic progress over SSE", async () => {
    const requested = await api.graphql(REQUEST, { scenarioId, count: 64, batchSize: 8, ...base });
    expect(requested.data?.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");
    const job = requested.data!.requestGeneration.data;
    expect(job).toMatchObject({ count: 64, taskCount: 8 });
    expect(["QUEUED", "RUNNING"]).toContain(job.status);

    const events: any[] = [];
    await subscribeSse(api, PROGRESS, { jobId: job.id }, (payload) => events.push(payload.data.jobProgress));
    const completed = events.map((e) => e.completedCount);
    expect(completed.length).toBeGreaterThan(1);
    for (let i = 1; i < completed.length; i++) expect(completed[i]).toBeGreaterThanOrEqual(completed[i - 1]);
    expect(events.at(-1)).toMatchObject({ status: "SUCCEEDED", completedCount: 64, failedCount: 0, etaSeconds: 0 });

    const samples = (await api.graphql(SAMPLES, { jobId: job.id, first: 100 })).data!.samples;
    expect(samples.totalCount).toBe(64);
    const indices = samples.edges.map((e: any) => e.node.index).sort((a: number, b: number) => a - b);
    expect(indices).toEqual(Array.from({ length: 64 }, (_, i) => i));
    for (const { node } of samples.edges) {
      expect(node.status).toBe("OK");
      const { record, artifact, timings } = node.provenance;
      expect(record).toMatchObject({ sampler: "ddim", steps: 4, guidance: 3, seed: 11, index: node.index, executionProvider: "cpu" });
      expect(record.model).toMatchObject({ name: "tiny-model", version: "0.0.1" });
      expect(record.model.fileHashes["denoiser.onnx"]).toMatch(/^[0-9a-f]{64}$/);
      expect(record.scenario).toMatchObject({ name: "tiny-pedestrian-fog", version: 1 });
      expect(record.versions).toHaveProperty("onnxruntime");
      expect(record.versions).toHaveProperty("rareforge");
      expect(record.condition).toHaveLength(10);
      expect(record.parameters).toEqual(node.parameters);
      expect(timings.generateMs).toBeGreaterThan(0);
      expect(artifact.sha256).toBe(node.artifact.sha256);
      const bytes = readFileSync(`${dirs.dataDir}/artifacts/${artifact.sha256.slice(0, 2)}/${artifact.sha256}`);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(artifact.sha256);
      // the record embedded in the file is the one in the database
      expect(readPngRecord(bytes)).toEqual(record);
    }
  });

  it("serves artifacts by hash with content type and immutable caching; unknown hashes are 404", async () => {
    const sample = (await api.graphql(SAMPLES, { first: 1 })).data!.samples.edges[0].node;
    const response = await api.fetch(`${sample.artifact.url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("cache-control")).toContain("immutable");
    expect(response.headers.get("etag")).toBe(`"${sample.artifact.sha256}"`);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(sample.artifact.sha256);
    const again = await api.fetch(`${sample.artifact.url}`, { headers: { "if-none-match": `"${sample.artifact.sha256}"` } });
    expect(again.status).toBe(304);
    expect((await api.fetch(`/artifacts/${"0".repeat(64)}`)).status).toBe(404);
    expect((await api.fetch(`/artifacts/not-a-hash`)).status).toBe(404);
  });

  it("filters samples by drawn parameter values", async () => {
    const all = (await api.graphql(SAMPLES, { first: 100 })).data!.samples;
    const fog = (await api.graphql(SAMPLES, { first: 100, parameters: { weather: "fog" } })).data!.samples;
    const expected = all.edges.filter((e: any) => e.node.parameters.weather === "fog").length;
    expect(expected).toBeGreaterThan(0);
    expect(fog.totalCount).toBe(expected);
    expect(fog.edges.every((e: any) => e.node.parameters.weather === "fog")).toBe(true);
  });

  it("reproduces a CPU sample from its provenance record with the same sha256", async () => {
    const sample = (await api.graphql(SAMPLES, { first: 1 })).data!.samples.edges[0].node;
    const result = await api.graphql(
      `mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches expectedSha256 actualSha256 executionProvider sample { id } } } ... on Error { message } } }`,
      { id: sample.id },
    );
    expect(result.data?.reproduceSample.data).toMatchObject({ matches: true, expectedSha256: sample.artifact.sha256, actualSha256: sample.artifact.sha256, executionProvider: "cpu" });
  });

  it("cancels a 1,000-sample job within one batch and leaves consistent counts", async () => {
    const requested = await api.graphql(REQUEST, { scenarioId, count: 1000, batchSize: 8, ...base, seed: 99 });
    const job = requested.data!.requestGeneration.data;
    await waitForJob(api, job.id, (j) => j.completedCount >= 16);
    const cancelled = await api.graphql(`mutation($id: ID!) { cancelJob(id: $id) { __typename ... on MutationCancelJobSuccess { data { status completedCount failedCount } } } }`, { id: job.id });
    const atCancel = cancelled.data!.cancelJob.data;
    expect(atCancel.status).toBe("CANCELLED");
    // whatever batch was in flight is discarded: nothing more is committed afterwards
    await new Promise((r) => setTimeout(r, 1500));
    const after = await waitForJob(api, job.id, () => true);
    expect(after).toMatchObject({ status: "CANCELLED", completedCount: atCancel.completedCount, failedCount: 0 });
    expect(after.completedCount).toBeLessThan(1000);
    expect(after.completedCount % 8).toBe(0);
    expect(await db.prisma.sample.count({ where: { jobId: job.uuid } })).toBe(after.completedCount);
    // no half-written samples: every committed sample has its artifact
    expect(await db.prisma.sample.count({ where: { jobId: job.uuid, artifactId: null } })).toBe(0);
  });

  it("lists jobs filtered by scenario and status, and shows a job's samples", async () => {
    const JOBS = `query($scenarioId: ID, $status: JobStatus) { jobs(first: 10, scenarioId: $scenarioId, status: $status) { totalCount edges { node { id status count completedCount samples(first: 2) { totalCount } } } } }`;
    const all = (await api.graphql(JOBS, { scenarioId })).data!.jobs;
    expect(all.totalCount).toBe(2);
    const succeeded = (await api.graphql(JOBS, { scenarioId, status: "SUCCEEDED" })).data!.jobs;
    expect(succeeded.edges.map((e: any) => e.node)).toMatchObject([{ status: "SUCCEEDED", count: 64, completedCount: 64, samples: { totalCount: 64 } }]);
    const cancelled = (await api.graphql(JOBS, { status: "CANCELLED" })).data!.jobs;
    expect(cancelled.edges.map((e: any) => e.node.count)).toEqual([1000]);
  });

  it("takes sampler, steps and guidance left out from the model's manifest defaults", async () => {
    const manifest = JSON.parse(readFileSync(join(dirs.modelsDir, "tiny-model", "model.json"), "utf8"));
    const requested = (await api.graphql(REQUEST, { scenarioId, count: 1, batchSize: 1, seed: 3 })).data!.requestGeneration;
    expect(requested.__typename).toBe("MutationRequestGenerationSuccess");
    const job = await db.prisma.generationJob.findUniqueOrThrow({ where: { id: requested.data.uuid } });
    expect({ sampler: job.sampler, steps: job.steps, guidance: job.guidance }).toEqual(manifest.defaults);
    await api.graphql(`mutation($id: ID!) { cancelJob(id: $id) { __typename } }`, { id: requested.data.id });
  });

  it("refuses bad requests with typed errors and creates no job", async () => {
    const before = await jobCount();
    const refuse = async (variables: Record<string, unknown>) => (await api.graphql(REQUEST, { scenarioId, count: 4, batchSize: 2, ...base, ...variables })).data!.requestGeneration;
    expect(await refuse({ count: 0 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "count" }] });
    expect(await refuse({ count: 2001 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "count" }] });
    // the sampler is a closed enum: an unknown one is refused by GraphQL itself, naming the type
    const unknownSampler = await api.graphql(REQUEST, { scenarioId, count: 4, batchSize: 2, ...base, sampler: "plms" });
    expect(unknownSampler.errors?.[0]?.message).toMatch(/"plms".*Sampler/);
    expect(await refuse({ steps: 0 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "steps", message: "steps must be an integer in [1, 1000], got 0" }] });
    expect(await refuse({ seed: -1 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "seed" }] });
    expect(await refuse({ batchSize: 65 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "batchSize", message: "batchSize must be an integer in [1, 64], got 65" }] });
    expect(await refuse({ guidance: 100 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "guidance" }] });
    expect(await refuse({ guidance: -1 })).toMatchObject({ __typename: "ValidationError", issues: [{ path: "guidance" }] });
    const ep = await refuse({ ep: "cuda" });
    expect(ep).toMatchObject({ __typename: "ExecutionProviderUnavailableError", requested: "cuda" });
    expect(ep.available).toContain("cpu");
    expect(await refuse({ scenarioId: Buffer.from("Scenario:00000000-0000-0000-0000-000000000000").toString("base64") })).toMatchObject({ __typename: "NotFoundError" });
    const archivedId = await createTinyScenario(api, "tiny-archived");
    await api.graphql(`mutation($id: ID!) { archiveScenario(id: $id) { __typename } }`, { id: archivedId });
    expect(await refuse({ scenarioId: archivedId })).toMatchObject({ __typename: "ArchivedError" });
    expect(await jobCount()).toBe(before);
  });
});
