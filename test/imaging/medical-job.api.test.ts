// A medical generation job end to end (real HTTP, in-process worker, PGlite): each sample lists its DICOM,
// ground truth and SEG in `files`, the store serves them, the DICOM's dates come from the job, and
// reproduceSample still matches.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dicomParser from "dicom-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { REQUEST, waitForJob } from "../jobs/helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

describe("a brain-mri generation job", () => {
  let db: Database;
  let api: TestService;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-medical-job-"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: path.join(ROOT, "models"), dataDir, importLibraryOnStart: false, onnxThreads: 1 });
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("stores DICOM, ground truth and SEG per sample, served at /artifacts, and reproduces the sample", async () => {
    const yaml = readFileSync(path.join(ROOT, "scenarios", "haemorrhage-midline-shift.yaml"), "utf8");
    const imported = await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename } }`, { yaml });
    expect(imported.data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const scenarioId = (await api.graphql(`{ scenarios(first: 1) { edges { node { id } } } }`)).data!.scenarios.edges[0].node.id;
    const requested = await api.graphql(REQUEST, { scenarioId, count: 2, batchSize: 2, sampler: "DDIM", steps: 4, guidance: 3, seed: 5 });
    const job = requested.data!.requestGeneration.data;
    await waitForJob(api, job.id, (j) => j.status === "SUCCEEDED", 120_000);
    const jobRow = await db.prisma.generationJob.findUniqueOrThrow({ where: { id: job.uuid } });

    const samples = (
      await api.graphql(`query($jobId: ID) { samples(jobId: $jobId, first: 5) { edges { node { id index artifact { mediaType } files { role sha256 mediaType byteSize url } } } } }`, { jobId: job.id })
    ).data!.samples.edges.map((e: any) => e.node);
    expect(samples).toHaveLength(2);
    for (const sample of samples) {
      expect(sample.artifact.mediaType).toBe("image/png");
      expect(sample.files.map((f: any) => f.role)).toEqual(["dicom", "ground-truth", "segmentation"]);
      for (const file of sample.files) {
        const response = await api.fetch(`${file.url}`);
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe(file.mediaType);
        const bytes = new Uint8Array(await response.arrayBuffer());
        expect(bytes.byteLength).toBe(file.byteSize);
        if (file.role === "dicom") {
          const dataSet = dicomParser.parseDicom(bytes);
          expect(dataSet.string("x00080023")).toBe(jobRow.createdAt.toISOString().slice(0, 10).replaceAll("-", ""));
          expect(dataSet.string("x00200013")).toBe(String(sample.index + 1));
        }
      }
    }
    const reproduced = await api.graphql(`mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches } } ... on Error { message } } }`, { id: samples[0].id });
    expect(reproduced.data?.reproduceSample).toMatchObject({ data: { matches: true } });
  }, 180_000);
});
