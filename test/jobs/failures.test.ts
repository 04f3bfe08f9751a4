// The ends of a job that do not go well: a model that changed on disk after the request makes every batch
// fail, and the job ends FAILED with every index accounted for and no file stored; a package rebuilt with new
// weights under a version already recorded is refused at request time; the final state of a job with some
// failures is PARTIAL, with none FAILED, without any SUCCEEDED.
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { finalizeIfDone } from "../../src/jobs/lifecycle.ts";
import { sha256File } from "../../src/models/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { createTinyScenario, jobTestDirs, REQUEST, waitForJob, type JobTestDirs } from "./helpers.ts";

const SAMPLES = /* GraphQL */ `
  query Samples($jobId: ID) { samples(jobId: $jobId, first: 50) { totalCount edges { node { index status artifact { sha256 } } } } }
`;

/** Every regular file under dir (the artifact store), recursively. */
function storedFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe.each(testBackends())("job failures on $name", (backend) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(runWorker: boolean, db: Database, dirs: JobTestDirs): Promise<TestService> {
    const api = await startTestService(db, { modelsDir: dirs.modelsDir, dataDir: dirs.dataDir, importLibraryOnStart: false, runWorker, workerConcurrency: 1 });
    cleanups.push(() => api.close());
    return api;
  }

  it("a model file changed after the request fails every sample: the job ends FAILED, counts add up, nothing stored", async () => {
    const dirs = jobTestDirs();
    cleanups.push(() => dirs.remove());
    const db = await backend.open();
    cleanups.push(() => db.close());

    // Request with no worker running, so the task waits in the queue.
    const requester = await setUp(false, db, dirs);
    const scenarioId = await createTinyScenario(requester);
    const requested = await requester.graphql(REQUEST, { scenarioId, count: 6, batchSize: 3, sampler: "DDIM", steps: 2, guidance: 2, seed: 5 });
    expect(requested.data?.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");
    const jobId = requested.data!.requestGeneration.data.id as string;
    const jobUuid = requested.data!.requestGeneration.data.uuid as string;

    // The weights change on disk: the worker's sha256 check must refuse them.
    appendFileSync(path.join(dirs.modelsDir, "tiny-model", "denoiser.onnx"), Buffer.from([0]));
    const worker = await setUp(true, db, dirs);

    const job = await waitForJob(worker, jobId, (j) => ["SUCCEEDED", "PARTIAL", "FAILED"].includes(j.status));
    expect(job).toMatchObject({ status: "FAILED", count: 6, completedCount: 0, failedCount: 6 });
    expect(job.finishedAt).toBeTruthy();
    // the job says why: counts and the first failed sample's error
    expect(job.error).toMatch(/^6 of 6 samples failed; first \(sample 0\): .*(sha256|hash)/i);

    const all = await db.prisma.sample.findMany({ where: { jobId: jobUuid }, orderBy: { index: "asc" } });
    expect(all.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const sample of all) {
      expect(sample.status).toBe("FAILED");
      expect(sample.artifactId).toBeNull();
      expect(sample.error).toMatch(/sha256|hash/i);
    }
    const listed = await worker.graphql(SAMPLES, { jobId });
    expect(listed.data?.samples.totalCount).toBe(6);
    expect(await db.prisma.artifact.count()).toBe(0);
    // the artifact store holds nothing (the data directory has the service's secrets/ beside it)
    expect(storedFiles(path.join(dirs.dataDir, "artifacts"))).toEqual([]);
  });

  it("a package rebuilt under a version already recorded is refused at request time, before any job exists", async () => {
    const dirs = jobTestDirs();
    cleanups.push(() => dirs.remove());
    const db = await backend.open();
    cleanups.push(() => db.close());
    const first = await setUp(false, db, dirs);
    const scenarioId = await createTinyScenario(first);
    const request = { scenarioId, count: 2, batchSize: 2, sampler: "DDIM", steps: 2, guidance: 2, seed: 5 };
    expect((await first.graphql(REQUEST, request)).data?.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");

    // A consistent rebuild (new weights, the manifest's hashes updated) that kept the version: samples would
    // record the old package's row, so the service refuses it instead of mixing two packages under one version.
    const manifestPath = path.join(dirs.modelsDir, "tiny-model", "model.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    const denoiserPath = path.join(dirs.modelsDir, "tiny-model", "denoiser.onnx");
    appendFileSync(denoiserPath, Buffer.from([0]));
    const files = { ...manifest.files, "denoiser.onnx": sha256File(denoiserPath) };
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, files }, null, 2));
    const second = await setUp(false, db, dirs);
    const refused = await second.graphql(REQUEST, { ...request, seed: 6 });
    expect(refused.data?.requestGeneration.__typename).toBe("ValidationError");
    expect(refused.data?.requestGeneration.issues).toEqual([
      { path: "scenario.model", message: `${manifest.name} ${manifest.version} on disk differs from the package recorded under that version (denoiser.onnx); a changed package needs a new version` },
    ]);
    expect(await db.prisma.generationJob.count()).toBe(1);

    // The same files under a new version are a new package.
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, files, version: `${manifest.version}-rebuilt` }, null, 2));
    const third = await setUp(false, db, dirs);
    expect((await third.graphql(REQUEST, { ...request, seed: 7 })).data?.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");
    expect(await db.prisma.modelPackage.count()).toBe(2);
  });

  it("a job whose last batch commits some failures ends PARTIAL; all failed ends FAILED; none SUCCEEDED", async () => {
    const dirs = jobTestDirs();
    cleanups.push(() => dirs.remove());
    const db = await backend.open();
    cleanups.push(() => db.close());
    const api = await setUp(false, db, dirs);
    const scenarioId = await createTinyScenario(api);
    const requested = await api.graphql(REQUEST, { scenarioId, count: 4, batchSize: 4, sampler: "DDIM", steps: 2, guidance: 2, seed: 5 });
    const jobId = requested.data!.requestGeneration.data.id as string;
    const uuid = requested.data!.requestGeneration.data.uuid as string;

    const end = async (completedCount: number, failedCount: number) => {
      await db.prisma.generationJob.update({ where: { id: uuid }, data: { status: "RUNNING", completedCount, failedCount, finishedAt: null } });
      return finalizeIfDone(db, uuid);
    };
    // Not every index accounted for yet: the job stays RUNNING.
    expect(await end(2, 1)).toBe(false);
    expect((await db.prisma.generationJob.findUniqueOrThrow({ where: { id: uuid } })).status).toBe("RUNNING");
    for (const [completed, failed, status] of [
      [3, 1, "PARTIAL"],
      [0, 4, "FAILED"],
      [4, 0, "SUCCEEDED"],
    ] as const) {
      expect(await end(completed, failed)).toBe(true);
      const row = await db.prisma.generationJob.findUniqueOrThrow({ where: { id: uuid } });
      expect(row.status).toBe(status);
      expect(row.finishedAt).not.toBeNull();
      expect(row.error).toBe(failed === 0 ? null : `${failed} of 4 samples failed; no failed sample recorded`);
      // A second worker finishing at the same moment changes nothing.
      expect(await finalizeIfDone(db, uuid)).toBe(false);
    }
    const seen = await waitForJob(api, jobId, () => true);
    expect(seen.status).toBe("SUCCEEDED");
  });
});
