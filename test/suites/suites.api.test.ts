// Suites over the real service (HTTP, in-process worker, PGlite; PostgreSQL too when TEST_DATABASE_URL is set) with
// the shipped road-hazards model and road-detector: a suite is created and versioned through GraphQL, run against
// a baseline on the same samples; its paired counts, exact McNemar p-values and Holm decisions match an independent
// computation from the stored rows; a second run generates nothing and gives the same report; a larger version
// generates only the missing indices, each the same sample a job from index 0 makes; YOLOv8n-int8 is compared with
// YOLOX-nano when ../shared/data has them; and a key without the medical scope cannot name a medical scenario.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { decodeImage } from "../../src/imaging/index.ts";
import { drawParameters, type ScenarioSpec } from "../../src/scenarios/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { subscribeSse } from "../jobs/helpers.ts";
import { YOLOV8N_INT8, YOLOX_NANO, sharedDetectorAvailable, sharedYoloxAvailable } from "../detection/helpers/shared-data.ts";
import { decodeGlobalID } from "@pothos/plugin-relay";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const SCENARIOS_DIR = new URL("../../scenarios/", import.meta.url).pathname;
const shippedPresent = ["road-hazards", "road-detector", "brain-mri"].every((p) => existsSync(path.join(MODELS_DIR, p)));
if (!shippedPresent) console.warn("skipping the suite API tests: models/road-hazards, road-detector or brain-mri is absent");

const SCENARIO_YAML = `
name: suite-hazards
domain: automotive
model: road-hazards
parameters:
  hazard: {kind: choice, values: [pedestrian, animal, vehicle]}
  weather: {kind: choice, values: [clear, fog]}
  timeOfDay: {kind: choice, values: [day, night]}
  hazardCx: {kind: uniform, min: 0.3, max: 0.7}
  hazardCy: {kind: uniform, min: 0.55, max: 0.7}
  hazardW: {kind: uniform, min: 0.08, max: 0.3}
  hazardH:
    kind: given
    of: hazard
    cases:
      pedestrian: {kind: uniform, min: 0.34, max: 0.4}
      animal: {kind: uniform, min: 0.12, max: 0.16}
      vehicle: {kind: uniform, min: 0.095, max: 0.11}
`;

const suiteSpec = (samples: number) => ({
  name: "hazard-gate",
  description: "test gate",
  alpha: 0.05,
  scenarios: [
    {
      scenario: "suite-hazards",
      samples,
      seed: 3,
      sampler: "ddim",
      steps: 2,
      guidance: 3,
      criteria: { maxMissRate: 1, minValidShare: 0.5, maxRegression: 0, conditions: [{ where: { timeOfDay: "night" }, maxMissRate: 1 }] },
    },
  ],
});

const RESULT = `__typename ... on Error { message } ... on ValidationError { issues { path message } }`;
const RUN_FIELDS = `id uuid status exitCode generatedCount reusedCount report error detector { name } baseline { name }
  criteria { scenario kind condition status observed limit pValue adjustedP message }`;

/** Polls a suite run until it has ended. */
async function finishedRun(api: TestService, id: string, timeoutMs = 240_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // a poll can meet a keep-alive socket the server closed while busy (ECONNRESET): that poll is retried
    const response = await api.graphql(`query($id: ID!) { suiteRun(id: $id) { __typename ... on Error { message } ... on QuerySuiteRunSuccess { data { ${RUN_FIELDS} } } } }`, { id }).catch(() => undefined);
    if (response?.errors) throw new Error(`suiteRun: ${JSON.stringify(response.errors)}`);
    const run = response?.data?.suiteRun.data;
    if (run && run.status !== "RUNNING") return run;
    if (Date.now() > deadline) throw new Error(`suite run ${id} did not end: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** ln C(n, k) and the exact two-sided binomial test on discordant pairs, written here independently of the library. */
function mcnemarP(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  let tail = 0;
  for (let k = 0; k <= Math.min(b, c); k++) {
    let logChoose = 0;
    for (let i = 1; i <= k; i++) logChoose += Math.log(n - k + i) - Math.log(i);
    tail += Math.exp(logChoose - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

describe.skipIf(!shippedPresent).each(testBackends())("validation suites through the API, on $name", (backend) => {
  let db: Database;
  let api: TestService;
  let dataDir: string;
  let suiteId: string;
  let roadId: string;
  let baselineId: string;
  let firstRun: any;
  const counts = async () => ({ jobs: await db.prisma.generationJob.count(), samples: await db.prisma.sample.count(), scores: await db.prisma.score.count() });
  const register = async (file: string) => {
    const r = await api.graphql(`mutation($p: String!) { registerDetector(path: $p) { ${RESULT} ... on MutationRegisterDetectorSuccess { data { id name } } } }`, { p: file });
    expect(r.data?.registerDetector.__typename, JSON.stringify(r)).toBe("MutationRegisterDetectorSuccess");
    return r.data!.registerDetector.data.id as string;
  };
  const runSuite = async (detectorId: string, baselineDetectorId: string | null) => {
    const started = await api.graphql(`mutation($s: ID!, $d: ID!, $b: ID) { runSuite(suiteId: $s, detectorId: $d, baselineDetectorId: $b) { ${RESULT} ... on MutationRunSuiteSuccess { data { id status } } } }`, {
      s: suiteId,
      d: detectorId,
      b: baselineDetectorId,
    });
    expect(started.data?.runSuite.__typename, JSON.stringify(started)).toBe("MutationRunSuiteSuccess");
    return finishedRun(api, started.data!.runSuite.data.id);
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-suites-"));
    mkdirSync(path.join(dataDir, "detectors"));
    if (sharedDetectorAvailable) copyFileSync(YOLOV8N_INT8, path.join(dataDir, "detectors", "yolov8n_int8.onnx"));
    if (sharedYoloxAvailable) copyFileSync(YOLOX_NANO, path.join(dataDir, "detectors", "yolox_nano.onnx"));
    db = await backend.open();
    // the realism gate off: the interim generator at 2 steps rarely makes a sample the critic accepts
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, realismGate: false, workerConcurrency: 1 });
    const imported = await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { ${RESULT} } }`, { yaml: SCENARIO_YAML });
    expect(imported.data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
    roadId = detectors.data!.detectors.edges.find((e: any) => e.node.name === "road-detector").node.id;
    // the baseline: the same architecture's COCO export when ../shared/data has it, otherwise the road detector itself
    baselineId = sharedDetectorAvailable ? await register("yolov8n_int8.onnx") : roadId;
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates a suite through GraphQL, refusing bad definitions with every bad field named and nothing written", async () => {
    const bad = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ${RESULT} } }`, {
      spec: { ...suiteSpec(8), scenarios: [{ ...suiteSpec(8).scenarios[0], scenario: "no-such-scenario", steps: 0, criteria: { conditions: [{ where: { nope: 1 }, maxMissRate: 0.2 }] } }] },
    });
    expect(bad.data?.createSuite.__typename).toBe("ValidationError");
    expect(bad.data?.createSuite.issues.map((i: any) => i.path)).toEqual(["scenarios.0.scenario"]);
    const badCondition = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ${RESULT} } }`, {
      spec: { ...suiteSpec(8), scenarios: [{ ...suiteSpec(8).scenarios[0], steps: 0, criteria: { conditions: [{ where: { nope: 1 }, maxMissRate: 0.2 }] } }] },
    });
    expect(badCondition.data?.createSuite.issues.map((i: any) => i.path).sort()).toEqual(["scenarios.0.criteria.conditions.0.where.nope", "scenarios.0.steps"]);
    expect(await db.prisma.suite.count()).toBe(0);

    const created = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ${RESULT} ... on MutationCreateSuiteSuccess { data { id name latestVersion domains } } } }`, { spec: suiteSpec(8) });
    expect(created.data?.createSuite.data).toMatchObject({ name: "hazard-gate", latestVersion: 1, domains: ["AUTOMOTIVE"] });
    suiteId = created.data!.createSuite.data.id;
  });

  it("runs against a baseline: paired counts, McNemar p-values, Holm decisions and miss-rate bounds match the stored rows", { timeout: 300_000 }, async () => {
    const before = await counts();
    firstRun = await runSuite(roadId, baselineId);
    expect(firstRun.error).toBeNull();
    expect(["PASSED", "FAILED"]).toContain(firstRun.status);
    expect(firstRun.exitCode).toBe(firstRun.status === "PASSED" ? 0 : 1);
    expect(firstRun).toMatchObject({ generatedCount: 8, reusedCount: 0 });
    const after = await counts();
    expect(after.jobs - before.jobs).toBe(1);
    expect(after.samples - before.samples).toBe(8);

    // independently: the 8 samples of (scenario version, seed 3, ddim, 2 steps, guidance 3) and both detectors' scores
    const samples = await db.prisma.sample.findMany({
      where: { seed: 3n, steps: 2, sampler: "ddim", guidance: 3, status: "OK", scenarioVersion: { scenario: { name: "suite-hazards" } } },
      include: { scores: true },
      orderBy: { index: "asc" },
    });
    expect(samples.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const missed = (s: (typeof samples)[number], detector: string) => ["MISS", "WRONG_CLASS"].includes(s.scores.find((x) => x.detectorPackageId === detector)!.outcome);
    const uuidOf = (globalId: string) => decodeGlobalID(globalId).id;
    const candidateUuid = uuidOf(roadId);
    const baselineUuid = uuidOf(baselineId);
    const tableOf = (group: typeof samples) => ({
      n: group.length,
      baselineOnlyHit: group.filter((s) => missed(s, candidateUuid) && !missed(s, baselineUuid)).length,
      candidateOnlyHit: group.filter((s) => !missed(s, candidateUuid) && missed(s, baselineUuid)).length,
      misses: group.filter((s) => missed(s, candidateUuid)).length,
    });
    const whole = tableOf(samples);
    const night = tableOf(samples.filter((s) => (s.parameters as { timeOfDay: string }).timeOfDay === "night"));
    const scenario = firstRun.report.scenarios[0];
    expect(scenario.paired).toMatchObject({ n: 8, baselineOnlyHit: whole.baselineOnlyHit, candidateOnlyHit: whole.candidateOnlyHit });
    expect(scenario.missRate).toMatchObject({ n: 8, misses: whole.misses });

    // the suite's Holm family: the whole scenario and its one condition (maxRegression inherited)
    const regression = firstRun.criteria.filter((c: any) => c.kind === "maxRegression");
    expect(regression.map((c: any) => c.condition)).toEqual([null, { timeOfDay: "night" }]);
    const p = [mcnemarP(whole.baselineOnlyHit, whole.candidateOnlyHit), mcnemarP(night.baselineOnlyHit, night.candidateOnlyHit)];
    const [low, high] = p[0]! <= p[1]! ? [0, 1] : [1, 0];
    const holm: number[] = [];
    holm[low] = Math.min(1, 2 * p[low]!);
    holm[high] = Math.max(holm[low]!, Math.min(1, p[high]!));
    regression.forEach((c: any, i: number) => {
      expect(c.pValue).toBeCloseTo(p[i]!, 12);
      expect(c.adjustedP).toBeCloseTo(holm[i]!, 12);
      const table = i === 0 ? whole : night;
      const regressed = table.baselineOnlyHit > table.candidateOnlyHit && holm[i]! <= 0.05 && (table.baselineOnlyHit - table.candidateOnlyHit) / table.n > 0;
      expect(c.status).toBe(regressed ? "FAILED" : "PASSED");
    });
    // maxMissRate 1 always passes; the valid share is 1 with the gate off
    expect(firstRun.criteria.filter((c: any) => c.kind !== "maxRegression").map((c: any) => c.status)).toEqual(["PASSED", "PASSED", "PASSED"]);
    expect(firstRun.status).toBe(regression.some((c: any) => c.status === "FAILED") ? "FAILED" : "PASSED");
  });

  it("a second run generates nothing, scores nothing new and gives the same report", { timeout: 120_000 }, async () => {
    const before = await counts();
    const second = await runSuite(roadId, baselineId);
    expect(second).toMatchObject({ generatedCount: 0, reusedCount: 8, status: firstRun.status });
    expect(await counts()).toEqual(before);
    expect(second.report).toEqual(firstRun.report);
    expect(second.criteria).toEqual(firstRun.criteria);
  });

  it("refuses a run for an unknown detector with a typed error and no run row; streams a run's progress over SSE", { timeout: 120_000 }, async () => {
    const runsBefore = await db.prisma.suiteRun.count();
    const unknown = Buffer.from("DetectorPackage:00000000-0000-4000-8000-000000000000").toString("base64");
    const refused = await api.graphql(`mutation($s: ID!, $d: ID!) { runSuite(suiteId: $s, detectorId: $d) { ${RESULT} } }`, { s: suiteId, d: unknown });
    expect(refused.data?.runSuite).toMatchObject({ __typename: "NotFoundError" });
    expect(await db.prisma.suiteRun.count()).toBe(runsBefore);

    // a job from a first index: refused when negative, or beside given parameters (which start at index 0); nothing written
    const jobsBefore = await db.prisma.generationJob.count();
    const scenarioUuid = (await db.prisma.scenario.findFirstOrThrow({ where: { name: "suite-hazards" } })).id;
    const request = { scenarioId: scenarioUuid, count: 2, steps: 2, seed: 3 };
    await expect(api.service.services.jobs.request({ ...request, firstIndex: -1 })).rejects.toThrow(/firstIndex: firstIndex must be a non-negative integer, got -1/);
    await expect(api.service.services.jobs.request({ ...request, firstIndex: 4, parameters: [{}, {}] })).rejects.toThrow(/firstIndex: explicit parameters start at index 0/);
    expect(await db.prisma.generationJob.count()).toBe(jobsBefore);

    const started = await api.graphql(`mutation($s: ID!, $d: ID!) { runSuite(suiteId: $s, detectorId: $d) { ... on MutationRunSuiteSuccess { data { id } } } }`, { s: suiteId, d: roadId });
    const events: any[] = [];
    await subscribeSse(api, `subscription($id: ID!) { suiteRunProgress(runId: $id) { status generatedCount reusedCount exitCode } }`, { id: started.data!.runSuite.data.id }, (payload) => events.push(payload.data?.suiteRunProgress));
    expect(events.length).toBeGreaterThan(0);
    // without a baseline the regression criteria are skipped and the lenient rest passes
    const last = events.at(-1);
    expect(last).toMatchObject({ status: "PASSED", exitCode: 0 });
    expect(last.generatedCount + last.reusedCount).toBe(8);
    expect(events.slice(0, -1).every((e) => e.status === "RUNNING")).toBe(true);
  });

  it("a larger version generates only the missing indices, each the sample a job from index 0 makes", { timeout: 300_000 }, async () => {
    const updated = await api.graphql(`mutation($id: ID!, $spec: JSON!) { updateSuite(id: $id, spec: $spec, expectedVersion: 1) { ${RESULT} ... on MutationUpdateSuiteSuccess { data { latestVersion } } } }`, { id: suiteId, spec: suiteSpec(11) });
    expect(updated.data?.updateSuite.data.latestVersion).toBe(2);
    const stale = await api.graphql(`mutation($id: ID!, $spec: JSON!) { updateSuite(id: $id, spec: $spec, expectedVersion: 1) { ${RESULT} } }`, { id: suiteId, spec: suiteSpec(12) });
    expect(stale.data?.updateSuite).toMatchObject({ __typename: "VersionConflictError", message: "version conflict: expected version 1, but the latest is 2" });
    const renamed = await api.graphql(`mutation($id: ID!, $spec: JSON!) { updateSuite(id: $id, spec: $spec) { ${RESULT} } }`, { id: suiteId, spec: { ...suiteSpec(12), name: "other" } });
    expect(renamed.data?.updateSuite.issues).toEqual([{ path: "name", message: 'a suite keeps its name: expected "hazard-gate"' }]);
    expect(await db.prisma.suiteVersion.count({ where: { suite: { name: "hazard-gate" } } })).toBe(2);
    const jobsBefore = await db.prisma.generationJob.count();
    const third = await runSuite(roadId, null);
    expect(third).toMatchObject({ generatedCount: 3, reusedCount: 8, baseline: null });
    expect(third.criteria.filter((c: any) => c.kind === "maxRegression").map((c: any) => c.status)).toEqual(["SKIPPED", "SKIPPED"]);
    const jobs = await db.prisma.generationJob.findMany({ orderBy: { createdAt: "asc" }, skip: jobsBefore });
    expect(jobs.map((j) => j.count)).toEqual([3]);

    // the same indices from a plain job that starts at 0: the same parameters and the same pixels
    const scenario = await db.prisma.scenario.findFirstOrThrow({ where: { name: "suite-hazards" }, include: { versions: true } });
    const plain = await api.graphql(`mutation($s: ID!) { requestGeneration(scenarioId: $s, count: 11, sampler: DDIM, steps: 2, guidance: 3, seed: 3, batchSize: 11) { ${RESULT} ... on MutationRequestGenerationSuccess { data { uuid } } } }`, {
      s: Buffer.from(`Scenario:${scenario.id}`).toString("base64"),
    });
    const plainJob = plain.data!.requestGeneration.data.uuid as string;
    for (let waited = 0; (await db.prisma.generationJob.findUniqueOrThrow({ where: { id: plainJob } })).status !== "SUCCEEDED"; waited += 250) {
      if (waited > 120_000) throw new Error("plain job did not finish");
      await new Promise((r) => setTimeout(r, 250));
    }
    const spec = scenario.versions[0]!.spec as unknown as ScenarioSpec;
    for (const index of [8, 9, 10]) {
      const sampleOf = (jobId: string) => db.prisma.sample.findUniqueOrThrow({ where: { jobId_index: { jobId, index } }, include: { artifact: true } });
      const suiteSample = await sampleOf(jobs[0]!.id);
      const plainSample = await sampleOf(plainJob);
      expect(suiteSample.parameters).toEqual(drawParameters(spec, 3, index));
      expect(plainSample.parameters).toEqual(suiteSample.parameters);
      const [a, b] = await Promise.all([suiteSample, plainSample].map(async (s) => decodeImage(await api.service.services.store.readBytes(s.artifact!.sha256), s.id)));
      expect(Array.from(a!.data), `pixels of index ${index}`).toEqual(Array.from(b!.data));
    }
  });

  it.skipIf(!sharedYoloxAvailable)("compares the two real exports, YOLOv8n-int8 against YOLOX-nano, on the same samples", { timeout: 300_000 }, async () => {
    const yolox = await register("yolox_nano.onnx");
    const before = await counts();
    const run = await runSuite(baselineId, yolox);
    expect(run.error).toBeNull();
    expect(run).toMatchObject({ generatedCount: 0, reusedCount: 11, detector: { name: expect.stringMatching(/yolov8n/i) } });
    expect((await counts()).samples).toBe(before.samples);
    const paired = run.report.scenarios[0].paired;
    expect(paired.bothHit + paired.bothMiss + paired.baselineOnlyHit + paired.candidateOnlyHit).toBe(11);
    expect(run.criteria.find((c: any) => c.kind === "maxRegression" && c.condition === null).pValue).toBeCloseTo(mcnemarP(paired.baselineOnlyHit, paired.candidateOnlyHit), 12);
  });

  it("a medical scenario needs the medical scope to be named in a suite; a medical suite is hidden from other keys", async () => {
    const medical = (await import("node:fs")).readFileSync(path.join(SCENARIOS_DIR, "normal-anatomy-control.yaml"), "utf8");
    expect((await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { ${RESULT} } }`, { yaml: medical })).data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const spec = { name: "brain-gate", scenarios: [{ scenario: "normal-anatomy-control", samples: 4, seed: 1, criteria: { maxMissRate: 0.5 } }] };
    const automotiveOperator = await api.createKey("OPERATOR", ["AUTOMOTIVE"]);
    const refused = await api.graphqlAs(automotiveOperator, `mutation($spec: JSON!) { createSuite(spec: $spec) { ${RESULT} } }`, { spec });
    expect(refused.data?.createSuite.__typename).toBe("ValidationError");
    expect(refused.data?.createSuite.issues[0]).toMatchObject({ path: "scenarios.0.scenario", message: "scenario normal-anatomy-control not found" });
    const created = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ${RESULT} ... on MutationCreateSuiteSuccess { data { domains } } } }`, { spec });
    expect(created.data?.createSuite.data.domains).toEqual(["MEDICAL"]);
    const seen = await api.graphqlAs(automotiveOperator, `{ suites(first: 10) { totalCount edges { node { name } } } }`);
    expect(seen.data?.suites.edges.map((e: any) => e.node.name)).toEqual(["hazard-gate"]);
    const viewer = await api.createKey("VIEWER", ["AUTOMOTIVE", "MEDICAL"]);
    const forbidden = await api.graphqlAs(viewer, `mutation($s: ID!, $d: ID!) { runSuite(suiteId: $s, detectorId: $d) { __typename } }`, { s: suiteId, d: roadId });
    expect(forbidden.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

// With the realism gate on (its thresholds from the config, the shipped road critic judging each sample), samples
// it refuses are left out of the miss rates and counted against the valid share, as the stored scores say.
describe.skipIf(!shippedPresent)("a suite with the realism gate on", () => {
  let db: Database;
  let api: TestService;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-suites-gate-"));
    db = await testBackends()[0]!.open();
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, realismGate: true, workerConcurrency: 1 });
    await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename } }`, { yaml: SCENARIO_YAML });
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("counts refused samples, leaves them out of the miss rate and judges the valid share from them", { timeout: 300_000 }, async () => {
    // 40 samples: more than one scoring batch (32), so every batch boundary is crossed once
    const created = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ... on MutationCreateSuiteSuccess { data { id } } } }`, { spec: suiteSpec(40) });
    const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
    const road = detectors.data!.detectors.edges.find((e: any) => e.node.name === "road-detector").node.id;
    const started = await api.graphql(`mutation($s: ID!, $d: ID!) { runSuite(suiteId: $s, detectorId: $d) { ... on MutationRunSuiteSuccess { data { id } } } }`, { s: created.data!.createSuite.data.id, d: road });
    const run = await finishedRun(api, started.data!.runSuite.data.id);
    expect(run.error).toBeNull();
    const scores = await db.prisma.score.findMany({ where: { sample: { seed: 3n, scenarioVersion: { scenario: { name: "suite-hazards" } } } } });
    expect(scores).toHaveLength(40);
    const invalid = scores.filter((s) => s.outcome === "INVALID").length;
    const scenario = run.report.scenarios[0];
    expect(scenario).toMatchObject({ invalid, n: 40 - invalid });
    if (scenario.missRate) expect(scenario.missRate.n).toBe(40 - invalid);
    else expect(invalid).toBe(40);
    const share = run.criteria.find((c: any) => c.kind === "minValidShare");
    expect(share.observed).toBeCloseTo((40 - invalid) / 40, 12);
    expect(share.status).toBe((40 - invalid) / 40 >= 0.5 ? "PASSED" : "FAILED");
  });
});
