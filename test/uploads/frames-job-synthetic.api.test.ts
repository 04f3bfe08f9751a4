// A background job without third-party data: synthetic camera frames (two sizes) in a reference set, a box
// distribution in frame pixels, the worker inserting each hazard at full resolution. Every sample keeps its frame
// outside the box and band, its labels are frame pixels with the frame's size, a COCO export gives each image its
// frame's size and its box, and reproduceSample makes the same bytes again.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encode as encodePng } from "fast-png";
import { strFromU8, unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { decodeCameraFrame } from "../../src/uploads/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { waitForJob } from "../jobs/helpers.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

/** A frame with texture (a gradient and stripes), so the colour match and the composite have something to keep. */
function texturedFrame(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 255) / width;
      data[o + 1] = (y * 255) / height;
      data[o + 2] = (x >> 3) % 2 ? 200 : 60;
    }
  return encodePng({ width, height, channels: 3, depth: 8, data });
}

const SCENARIO = `
name: synthetic-boxes
domain: automotive
model: road-hazards
parameters:
  hazard: {kind: choice, values: [cone, debris]}
  weather: {kind: choice, values: [clear, rain]}
  timeOfDay: day
  boxX: {kind: integer, min: 10, max: 200}
  boxY: {kind: integer, min: 90, max: 120}
  boxW: {kind: integer, min: 16, max: 40}
  boxH: {kind: integer, min: 16, max: 40}
background:
  referenceSet: synthetic-frames
  feather: 2
  box: {x: boxX, y: boxY, width: boxW, height: boxH}
`;

describe("a background job over synthetic frames", () => {
  let dataDir: string;
  let db: Database;
  let api: TestService;
  const frames = new Map<string, { width: number; height: number }>();

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-frames-synthetic-"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, workerConcurrency: 1 });
    const { referenceScans, referenceSets } = api.service.services;
    const set = await referenceSets.create({ name: "synthetic-frames" });
    for (const [width, height] of [[320, 180], [256, 160]] as const) {
      const scan = await referenceScans.upload(texturedFrame(width, height), { domain: "AUTOMOTIVE" });
      frames.set(scan.id, { width, height });
      await referenceSets.addFrames(set.id, [{ referenceScanId: scan.id }]);
    }
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await db?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses a box wider than the smallest frame, then generates, exports and reproduces full-frame samples", { timeout: 300_000 }, async () => {
    const tooWide = await api.graphql(`mutation($y: String!) { importScenarios(yaml: $y) { __typename ... on ValidationError { issues { path message } } } }`, { y: SCENARIO.replace("max: 200", "max: 230") });
    expect(tooWide.data?.importScenarios.issues).toEqual([{ path: "parameters.boxX", message: expect.stringMatching(/^x \+ width reaches 270, beyond the 256-pixel width of frame 1 /) }]);
    const imported = await api.graphql(`mutation($y: String!) { importScenarios(yaml: $y) { __typename } }`, { y: SCENARIO });
    expect(imported.data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const scenarioId = (await api.graphql(`{ scenarios(first: 1, text: "synthetic-boxes") { edges { node { id } } } }`)).data?.scenarios.edges[0].node.id;
    const requested = await api.graphql(
      `mutation($s: ID!) { requestGeneration(scenarioId: $s, count: 6, sampler: DDIM, steps: 2, guidance: 3, seed: 4, batchSize: 3) { __typename ... on MutationRequestGenerationSuccess { data { id uuid } } ... on Error { message } } }`,
      { s: scenarioId },
    );
    const job = requested.data?.requestGeneration.data;
    expect(await waitForJob(api, job.id, (j) => ["SUCCEEDED", "PARTIAL", "FAILED"].includes(j?.status), 240_000)).toMatchObject({ status: "SUCCEEDED", completedCount: 6 });

    const store = artifactStoreFromConfig({ dataDir });
    const samples = await db.prisma.sample.findMany({ where: { jobId: job.uuid }, orderBy: { index: "asc" }, include: { artifact: true } });
    const sources = new Map<string, ReturnType<typeof decodeCameraFrame>>();
    for (const sample of samples) {
      const parameters = sample.parameters as Record<string, string | number>;
      const size = frames.get(String(parameters.frame))!;
      const labels = sample.labels as { boxes: { class: string; x: number; y: number; width: number; height: number }[]; image: object; changed: { x: number; y: number; width: number; height: number }[] };
      expect(labels.image).toEqual(size);
      expect(labels.boxes).toEqual([expect.objectContaining({ class: parameters.hazard, x: parameters.boxX, y: parameters.boxY, width: parameters.boxW, height: parameters.boxH })]);
      expect(labels.changed).toEqual([{ x: Number(parameters.boxX) - 2, y: Number(parameters.boxY) - 2, width: Number(parameters.boxW) + 4, height: Number(parameters.boxH) + 4 }]);
      if (!sources.has(String(parameters.frame))) {
        const scan = await db.prisma.referenceScan.findUniqueOrThrow({ where: { id: String(parameters.frame) }, include: { artifact: true } });
        sources.set(String(parameters.frame), decodeCameraFrame(await store.readBytes(scan.artifact.sha256), 1e7));
      }
      const source = sources.get(String(parameters.frame))!;
      const result = decodeCameraFrame(await store.readBytes(sample.artifact!.sha256), 1e7);
      expect([result.width, result.height]).toEqual([size.width, size.height]);
      const [changed] = labels.changed;
      let outside = 0;
      let inside = 0;
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < size.width * size.height; p++) {
          const x = p % size.width;
          const y = Math.floor(p / size.width);
          const within = x >= changed!.x && x < changed!.x + changed!.width && y >= changed!.y && y < changed!.y + changed!.height;
          if (result.planes[c]![p] !== source.planes[c]![p]) (within ? inside++ : outside++);
        }
      expect(outside).toBe(0);
      expect(inside).toBeGreaterThan(0);
    }

    const exported = await api.graphql(`mutation($f: ExportFilter) { exportDataset(filter: $f, format: COCO) { ... on MutationExportDatasetSuccess { data { url } } } }`, { f: { jobId: job.id } });
    const zip = unzipSync(new Uint8Array(await (await api.fetch(exported.data?.exportDataset.data.url)).arrayBuffer()));
    const coco = Object.entries(zip)
      .filter(([name]) => name.startsWith("annotations/"))
      .map(([, bytes]) => JSON.parse(strFromU8(bytes)) as { images: { id: number; width: number; height: number; rareforge: { sampleId: string } }[]; annotations: { image_id: number; bbox: number[] }[] });
    const images = coco.flatMap((c) => c.images.map((image) => ({ ...image, bbox: c.annotations.find((a) => a.image_id === image.id)?.bbox })));
    expect(images).toHaveLength(6);
    for (const image of images) {
      const sample = samples.find((s) => s.id === image.rareforge.sampleId)!;
      const { boxes, image: size } = sample.labels as { boxes: { x: number; y: number; width: number; height: number }[]; image: { width: number; height: number } };
      expect([image.width, image.height]).toEqual([size.width, size.height]);
      expect(image.bbox).toEqual([boxes[0]!.x, boxes[0]!.y, boxes[0]!.width, boxes[0]!.height]);
    }

    const reproduced = await api.graphql(`mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches } } ... on Error { message } } }`, { id: globalId("Sample", samples[2]!.id) });
    expect(reproduced.data?.reproduceSample, JSON.stringify(reproduced)).toMatchObject({ data: { matches: true } });
  });

  it("a key without the automotive scope sees no reference set and cannot create one; a viewer cannot change one", async () => {
    const medical = await api.createKey("OPERATOR", ["MEDICAL"]);
    const listed = await api.graphqlAs(medical, `{ referenceSets(first: 5) { totalCount edges { node { name } } } }`);
    expect(listed.data?.referenceSets).toEqual({ totalCount: 0, edges: [] });
    const created = await api.graphqlAs(medical, `mutation { createReferenceSet(name: "medical-attempt") { __typename } }`);
    expect(JSON.stringify(created)).toMatch(/FORBIDDEN|NotFoundError/);
    const viewer = await api.createKey("VIEWER", ["AUTOMOTIVE"]);
    const seen = await api.graphqlAs(viewer, `{ referenceSets(first: 5) { totalCount edges { node { name frames { width height } } } } }`);
    expect(seen.data?.referenceSets.edges).toEqual([{ node: { name: "synthetic-frames", frames: [{ width: 320, height: 180 }, { width: 256, height: 160 }] } }]);
    const set = (await api.graphql(`{ referenceSets(first: 1) { edges { node { id } } } }`)).data?.referenceSets.edges[0].node.id;
    const changed = await api.graphqlAs(viewer, `mutation($id: ID!) { setReferenceSetCamera(setId: $id, camera: { horizonRow: 90, heightM: 1.2, focalLengthPx: 300 }) { __typename } }`, { id: set });
    expect(JSON.stringify(changed)).toMatch(/FORBIDDEN/);
    expect(await db.prisma.referenceSet.count()).toBe(1);
    expect((await db.prisma.referenceSet.findFirstOrThrow()).camera).toBeNull();
  });

  it("a CEM failure search over the background scenario runs its iterations as frame jobs scored by the shipped road detector", { timeout: 300_000 }, async () => {
    const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
    const detectorId = detectors.data?.detectors.edges.map((e: any) => e.node).find((d: any) => d.name === "road-detector").id;
    const scenarioId = (await api.graphql(`{ scenarios(first: 1, text: "synthetic-boxes") { edges { node { id } } } }`)).data?.scenarios.edges[0].node.id;
    const started = await api.graphql(
      `mutation($s: ID!, $d: ID!) { startFailureSearch(scenarioId: $s, detectorId: $d, budget: 12, batchSize: 6, method: CEM, steps: 2, seed: 3) { __typename ... on MutationStartFailureSearchSuccess { data { id uuid } } ... on Error { message } } }`,
      { s: scenarioId, d: detectorId },
    );
    const search = started.data?.startFailureSearch.data;
    expect(search, JSON.stringify(started)).toBeTruthy();
    let state: any;
    for (const deadline = Date.now() + 280_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      state = (await api.graphql(`query($id: ID!) { failureSearch(id: $id) { ... on QueryFailureSearchSuccess { data { status evaluatedCount error } } } }`, { id: search.id })).data?.failureSearch.data;
      if (state?.status !== "RUNNING") break;
    }
    expect(state, JSON.stringify(state)).toMatchObject({ status: "SUCCEEDED", evaluatedCount: 12 });
    // the learned failure region is a scenario over the same frames
    const derived = (await api.graphql(`query($id: ID!) { failureSearch(id: $id) { ... on QueryFailureSearchSuccess { data { derivedScenario { currentVersion { spec } } } } } }`, { id: search.id })).data?.failureSearch.data;
    expect(derived.derivedScenario.currentVersion.spec.background).toEqual({ referenceSet: "synthetic-frames", feather: 2, box: { x: "boxX", y: "boxY", width: "boxW", height: "boxH" } });
    const samples = await db.prisma.sample.findMany({ where: { job: { searchId: search.uuid } }, include: { scores: true } });
    expect(samples).toHaveLength(12);
    for (const sample of samples) {
      expect(sample.status).toBe("OK");
      const parameters = sample.parameters as Record<string, string | number>;
      expect(frames.get(String(parameters.frame))).toEqual((sample.labels as { image: object }).image);
      expect((sample.labels as { boxes: { x: number }[] }).boxes[0]!.x).toBe(Math.round(Number(parameters.boxX)));
      expect(sample.scores).toHaveLength(1);
    }
  });
});
