// A YOLOX export through the API: yolox_nano.onnx copied into the detectors directory is registered with
// registerDetector(path:) (its layout found from the output shape, COCO-80 names, the road vocabulary mapped
// by default), scores a job as it is generated and scores another job's stored samples on demand. Naming
// the wrong layout is refused before anything is written.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { waitForJob } from "../jobs/helpers.ts";
import { YOLOX_NANO, sharedYoloxAvailable } from "./helpers/shared-data.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const shippedPresent = existsSync(path.join(MODELS_DIR, "road-hazards"));
if (!shippedPresent) console.warn("skipping the YOLOX API test: models/road-hazards is absent");

const SCENARIO_YAML = `
name: yolox-hazards
domain: automotive
model: road-hazards
parameters:
  hazard: {kind: choice, values: [pedestrian, vehicle]}
  weather: {kind: fixed, value: clear}
  timeOfDay: {kind: fixed, value: day}
  hazardCx: {kind: uniform, min: 0.4, max: 0.6}
  hazardCy: {kind: uniform, min: 0.55, max: 0.65}
  hazardW: {kind: uniform, min: 0.1, max: 0.2}
  hazardH:
    kind: given
    of: hazard
    cases:
      pedestrian: {kind: uniform, min: 0.34, max: 0.4}
      vehicle: {kind: uniform, min: 0.095, max: 0.11}
`;
const REGISTER = `mutation($p: String!, $layout: DetectorLayout) { registerDetector(path: $p, layout: $layout) { __typename
  ... on MutationRegisterDetectorSuccess { data { id name kind layout source classNames classMap } }
  ... on DetectorUnusableError { code message } } }`;
const REQUEST = `mutation($scenarioId: ID!, $detectorId: ID) {
  requestGeneration(scenarioId: $scenarioId, count: 4, sampler: DDIM, steps: 2, guidance: 3, seed: 5, batchSize: 4, detectorId: $detectorId) {
    __typename ... on MutationRequestGenerationSuccess { data { id uuid } } ... on Error { message } } }`;
const SCORE = `mutation($j: ID!, $d: ID!) { scoreSamples(jobId: $j, detectorId: $d) { __typename
  ... on MutationScoreSamplesSuccess { data { scored invalid alreadyScored } } ... on Error { message } } }`;

describe.skipIf(!sharedYoloxAvailable || !shippedPresent)("a YOLOX export registered and scoring through the API", () => {
  let dataDir: string;
  let db: Database;
  let api: TestService;
  let scenarioId: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-yolox-"));
    mkdirSync(path.join(dataDir, "detectors"));
    // a copy in the test service's own data directory, never in the repository
    copyFileSync(YOLOX_NANO, path.join(dataDir, "detectors", "yolox_nano.onnx"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, workerConcurrency: 1, realismGate: false });
    const imported = await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on Error { message } } }`, { yaml: SCENARIO_YAML });
    expect(imported.data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const found = await api.graphql(`{ scenarios(first: 5, text: "yolox-hazards") { edges { node { id name } } } }`);
    scenarioId = found.data?.scenarios.edges[0].node.id;
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses the file registered as an Ultralytics export, writing nothing", async () => {
    const refused = await api.graphql(REGISTER, { p: "yolox_nano.onnx", layout: "ULTRALYTICS" });
    // Ultralytics exports carry their names; this one has none
    expect(refused.data?.registerDetector).toMatchObject({ __typename: "DetectorUnusableError", code: "no-class-names" });
    expect(await db.prisma.detectorPackage.count({ where: { domain: null } })).toBe(0);
  });

  it("registers yolox_nano.onnx by path, scores a job as it is generated, and scores another job's samples on demand", { timeout: 300_000 }, async () => {
    const registered = await api.graphql(REGISTER, { p: "yolox_nano.onnx" });
    expect(registered.data?.registerDetector.__typename).toBe("MutationRegisterDetectorSuccess");
    const yolox = registered.data?.registerDetector.data;
    expect(yolox).toMatchObject({ name: "yolox_nano", kind: "yolox-onnx", layout: "YOLOX", source: { kind: "yolox-onnx", path: "yolox_nano.onnx" } });
    expect(yolox.classNames).toHaveLength(80);
    expect(yolox.classMap).toMatchObject({ pedestrian: ["person"], vehicle: ["car", "truck", "bus"] });

    // scored in the worker, batch by batch
    const scoredJob = (await api.graphql(REQUEST, { scenarioId, detectorId: yolox.id })).data?.requestGeneration.data;
    expect(await waitForJob(api, scoredJob.id, (j) => j?.status === "SUCCEEDED" || j?.status === "FAILED", 200_000)).toMatchObject({ status: "SUCCEEDED", completedCount: 4 });
    const scores = await db.prisma.score.findMany({ where: { sample: { jobId: scoredJob.uuid } }, include: { detectorPackage: { select: { name: true } } } });
    expect(scores).toHaveLength(4);
    for (const s of scores) {
      expect(s.detectorPackage.name).toBe("yolox_nano");
      expect(["HIT", "MISS", "WRONG_CLASS"]).toContain(s.outcome);
    }

    // stored samples scored on demand, once
    const plainJob = (await api.graphql(REQUEST, { scenarioId, detectorId: null })).data?.requestGeneration.data;
    await waitForJob(api, plainJob.id, (j) => j?.status === "SUCCEEDED", 200_000);
    expect((await api.graphql(SCORE, { j: plainJob.id, d: yolox.id })).data?.scoreSamples.data).toEqual({ scored: 4, invalid: 0, alreadyScored: 0 });
    expect((await api.graphql(SCORE, { j: plainJob.id, d: yolox.id })).data?.scoreSamples.data).toEqual({ scored: 0, invalid: 0, alreadyScored: 4 });
    const detections = await db.prisma.detection.findMany({ where: { detectorPackageId: scores[0]!.detectorPackageId } });
    for (const d of detections) {
      expect(d.x2).toBeGreaterThanOrEqual(d.x1);
      expect(d.y2).toBeGreaterThanOrEqual(d.y1);
    }
  });
});
