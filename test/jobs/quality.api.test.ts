// Sampling quality through GraphQL: requestGeneration with quality FAST samples with the model's `fast`
// settings, shows the quality on the job, records it in every sample's provenance, and reproduceSample
// regenerates the same bytes from that record; explicit settings still win; a model without fast settings
// refuses FAST with a ValidationError on `quality` and creates no job.
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { createTinyScenario, jobTestDirs, TINY_SCENARIO_YAML, waitForJob, type JobTestDirs } from "./helpers.ts";

const REQUEST = /* GraphQL */ `
  mutation Request($scenarioId: ID!, $count: Int!, $quality: SamplingQuality, $steps: Int, $seed: Int!) {
    requestGeneration(scenarioId: $scenarioId, count: $count, quality: $quality, steps: $steps, seed: $seed, batchSize: 2) {
      __typename
      ... on MutationRequestGenerationSuccess { data { id uuid quality sampler steps guidance } }
      ... on ValidationError { message issues { path message } }
    }
  }
`;

const SAMPLES = /* GraphQL */ `
  query($jobId: ID) { samples(jobId: $jobId, first: 10) { edges { node { id sampler steps guidance provenance artifact { sha256 } } } } }
`;

const FAST = { sampler: "euler", steps: 3, guidance: 2 };

describe.each(testBackends())("sampling quality on $name", (backend) => {
  let db: Database;
  let api: TestService;
  let dirs: JobTestDirs;
  let scenarioId: string;
  let manifestFile: string;
  let plainScenarioId: string;

  beforeAll(async () => {
    dirs = jobTestDirs();
    // the copied tiny model gets fast settings (nothing hashed changes: files hash only the ONNX)
    manifestFile = join(dirs.modelsDir, "tiny-model", "model.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    // and a copy under another name keeps the fixture's manifest, without fast settings
    cpSync(join(dirs.modelsDir, "tiny-model"), join(dirs.modelsDir, "tiny-plain"), { recursive: true });
    writeFileSync(join(dirs.modelsDir, "tiny-plain", "model.json"), JSON.stringify({ ...manifest, name: "tiny-plain" }));
    writeFileSync(manifestFile, JSON.stringify({ ...manifest, fast: FAST }));
    db = await backend.open();
    api = await startTestService(db, { modelsDir: dirs.modelsDir, dataDir: dirs.dataDir, importLibraryOnStart: false, workerConcurrency: 1 });
    scenarioId = await createTinyScenario(api);
    const yaml = TINY_SCENARIO_YAML.replace(/^name: .*$/m, "name: tiny-plain-fog").replace(/^model: .*$/m, "model: tiny-plain");
    await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename } }`, { yaml });
    plainScenarioId = (await api.graphql(`query { scenarios(first: 5, text: "tiny-plain-fog") { edges { node { id } } } }`)).data!.scenarios.edges[0].node.id;
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
    dirs?.remove();
  });

  it("FAST takes the manifest's fast settings, records quality in every sample's provenance, and reproduces", async () => {
    const requested = (await api.graphql(REQUEST, { scenarioId, count: 3, quality: "FAST", seed: 5 })).data!.requestGeneration;
    expect(requested).toMatchObject({ __typename: "MutationRequestGenerationSuccess", data: { quality: "FAST", ...FAST } });
    await waitForJob(api, requested.data.id, (j) => j.status === "SUCCEEDED");
    const samples = (await api.graphql(SAMPLES, { jobId: requested.data.id })).data!.samples.edges.map((e: any) => e.node);
    expect(samples).toHaveLength(3);
    for (const sample of samples) {
      expect(sample).toMatchObject(FAST);
      expect(sample.provenance.record).toMatchObject({ ...FAST, quality: "fast" });
      expect(JSON.parse(sample.provenance.recordJson).quality).toBe("fast");
    }
    const reproduced = await api.graphql(`mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches expectedSha256 actualSha256 } } ... on Error { message } } }`, { id: samples[1].id });
    expect(reproduced.data?.reproduceSample).toMatchObject({ __typename: "MutationReproduceSampleSuccess", data: { matches: true, expectedSha256: samples[1].artifact.sha256 } });
  });

  it("explicit steps win over FAST's; DEFAULT and no quality take the manifest's defaults", async () => {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    const explicit = (await api.graphql(REQUEST, { scenarioId, count: 1, quality: "FAST", steps: 5, seed: 6 })).data!.requestGeneration;
    expect(explicit.data).toMatchObject({ quality: "FAST", sampler: FAST.sampler, steps: 5, guidance: FAST.guidance });
    const asDefault = (await api.graphql(REQUEST, { scenarioId, count: 1, quality: "DEFAULT", seed: 6 })).data!.requestGeneration;
    expect(asDefault.data).toMatchObject({ quality: "DEFAULT", ...manifest.defaults });
    const unnamed = (await api.graphql(REQUEST, { scenarioId, count: 1, seed: 6 })).data!.requestGeneration;
    expect(unnamed.data).toMatchObject({ quality: null, ...manifest.defaults });
    for (const job of [explicit, asDefault, unnamed]) await waitForJob(api, job.data.id, (j) => j.status === "SUCCEEDED");
    const unnamedSample = (await api.graphql(SAMPLES, { jobId: unnamed.data.id })).data!.samples.edges[0].node;
    expect(unnamedSample.provenance.record).not.toHaveProperty("quality");
  });

  it("refuses FAST for a model without fast settings with a ValidationError on quality, and creates no job", async () => {
    const before = await db.prisma.generationJob.count();
    const refused = (await api.graphql(REQUEST, { scenarioId: plainScenarioId, count: 1, quality: "FAST", seed: 7 })).data!.requestGeneration;
    expect(refused).toMatchObject({ __typename: "ValidationError", issues: [{ path: "quality", message: expect.stringContaining('model "tiny-plain" has no fast sampling settings') }] });
    expect(await db.prisma.generationJob.count()).toBe(before);
    // the same model with quality DEFAULT is fine
    expect((await api.graphql(REQUEST, { scenarioId: plainScenarioId, count: 1, quality: "DEFAULT", seed: 7 })).data!.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");
  });
});
