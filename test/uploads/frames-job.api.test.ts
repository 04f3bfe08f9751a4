// Issue 19's acceptance: a 64-sample job over a reference set of the Udacity dashcam frames (../shared/data/images),
// hazards stood on the road by distance and lateral offset through the set's camera, scored in the worker by the
// real Ultralytics export (yolov8n_int8.onnx). Every sample is the frame outside the inserted box and its band, bit
// for bit; the report breaks the miss rate down by distance, class and weather; the frame's own cars are kept as
// context detections, never false positives; the YOLO export's boxes are the rows' ground truth in frame pixels;
// a sample is reproduced from its record with the same hash.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { strFromU8, unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { decodeCameraFrame } from "../../src/uploads/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { waitForJob } from "../jobs/helpers.ts";
import { hasChromium, launchBrowser, ready, signIn } from "../gallery/browser.ts";
import { decode as decodePng } from "fast-png";
import { SHARED_DATA_DIR, YOLOV8N_INT8 } from "../detection/helpers/shared-data.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const FRAMES = [1, 2, 3, 4].map((k) => `${SHARED_DATA_DIR}images/udacity_test${k}.jpg`).filter((file) => existsSync(file));
const available = FRAMES.length > 0 && existsSync(YOLOV8N_INT8) && existsSync(path.join(MODELS_DIR, "road-hazards"));
if (!available) console.warn(`skipping the frames job test: no udacity_test*.jpg or ${YOLOV8N_INT8} under ../shared/data, or models/road-hazards is absent`);
else if (FRAMES.length < 4) console.warn(`frames job test: ${FRAMES.length} of the four Udacity frames are present (${FRAMES.map((f) => path.basename(f)).join(", ")}); the set holds those`);

// Udacity CarND dashcam: fx ≈ 1156 px from the project's chessboard calibration; the lanes vanish near row 425;
// the camera sits about 1.2 m above the road (a sedan's windscreen).
const UDACITY_CAMERA = { horizonRow: 425, heightM: 1.2, focalLengthPx: 1156 };
const COUNT = 64;
const STEPS = 2;

const scenarioYaml = (name: string, distance = "{kind: uniform, min: 15, max: 60}") => `
name: ${name}
domain: automotive
model: road-hazards
parameters:
  hazard: {kind: choice, values: [animal, pedestrian, vehicle]}
  weather: {kind: choice, values: [clear, fog]}
  timeOfDay: {kind: choice, values: [day, dusk]}
  distanceM: ${distance}
  lateralM: {kind: uniform, min: -3, max: 3}
background:
  referenceSet: udacity-highway
  placement: {distance: distanceM, lateral: lateralM}
`;

const IMPORT = `mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on MutationImportScenariosSuccess { data { created } } ... on ValidationError { issues { path message } } ... on Error { message } } }`;
const REPORT = `query($jobId: ID!, $detectorId: ID!) { jobReport(jobId: $jobId, detectorId: $detectorId) { __typename ... on Error { message }
  ... on QueryJobReportSuccess { data { samples unscored overall { n misses } byParameter { parameter kind levels { value bin label n misses } } } } } }`;
const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

describe.skipIf(!available)("a job over a reference set of real camera frames", () => {
  let dataDir: string;
  let db: Database;
  let api: TestService;
  let setId: string;
  const scans: string[] = [];
  /** A scored sample with the frame's own objects detected around the inserted one (for the gallery check). */
  let shown: { id: string; box: { x: number; y: number; width: number; height: number }; context: number } | null = null;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-frames-"));
    mkdirSync(path.join(dataDir, "detectors"));
    // a copy in the test service's own data directory, never in the repository
    copyFileSync(YOLOV8N_INT8, path.join(dataDir, "detectors", "yolov8n_int8.onnx"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, workerConcurrency: 1, realismGate: false });
    for (const file of FRAMES) scans.push((await api.service.services.referenceScans.upload(new Uint8Array(readFileSync(file)), { domain: "AUTOMOTIVE" })).id);
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await db?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("groups the frames into a named set with a camera; each frame has its size", async () => {
    const created = await api.graphql(
      `mutation($camera: CameraDescriptionInput) { createReferenceSet(name: "udacity-highway", tags: ["udacity", "highway"], camera: $camera) { __typename ... on MutationCreateReferenceSetSuccess { data { id name tags } } } }`,
      { camera: UDACITY_CAMERA },
    );
    expect(created.data?.createReferenceSet.__typename).toBe("MutationCreateReferenceSetSuccess");
    setId = created.data?.createReferenceSet.data.id;
    const added = await api.graphql(
      `mutation($id: ID!, $frames: [ReferenceSetFrameInput!]!) { addReferenceSetFrames(setId: $id, frames: $frames) { __typename ... on MutationAddReferenceSetFramesSuccess { data { camera frames { position width height referenceScan { uuid } } } } } }`,
      { id: setId, frames: scans.map((id) => ({ referenceScanId: globalId("ReferenceScan", id) })) },
    );
    const set = added.data?.addReferenceSetFrames.data;
    expect(set.camera).toEqual(UDACITY_CAMERA);
    expect(set.frames).toEqual(scans.map((uuid, position) => ({ position, width: 1280, height: 720, referenceScan: { uuid } })));
  });

  it("refuses scenarios whose placements the frames cannot show, storing nothing", async () => {
    const tooNear = await api.graphql(IMPORT, { yaml: scenarioYaml("udacity-too-near", "{kind: uniform, min: 1, max: 5}") });
    expect(tooNear.data?.importScenarios.__typename).toBe("ValidationError");
    expect(JSON.stringify(tooNear.data?.importScenarios.issues)).toMatch(/below the 720-row frame: too near/);
    const noSet = await api.graphql(IMPORT, { yaml: scenarioYaml("udacity-no-set").replace("referenceSet: udacity-highway", "referenceSet: nowhere") });
    expect(noSet.data?.importScenarios.issues).toContainEqual({ path: "background.referenceSet", message: 'no reference set named "nowhere"' });
    expect(await db.prisma.scenario.count()).toBe(0);
  });

  it(`generates ${COUNT} full-frame samples scored by yolov8n: per-condition report, context detections, YOLO export equal to the rows, reproduction`, { timeout: 900_000 }, async () => {
    const imported = await api.graphql(IMPORT, { yaml: scenarioYaml("udacity-hazards") });
    expect(imported.data?.importScenarios).toMatchObject({ __typename: "MutationImportScenariosSuccess", data: { created: ["udacity-hazards"] } });
    const scenarioId = (await api.graphql(`{ scenarios(first: 1, text: "udacity-hazards") { edges { node { id } } } }`)).data?.scenarios.edges[0].node.id;
    const registered = await api.graphql(`mutation { registerDetector(path: "yolov8n_int8.onnx") { __typename ... on MutationRegisterDetectorSuccess { data { id } } ... on Error { message } } }`);
    const detectorId = registered.data?.registerDetector.data.id;
    expect(detectorId).toBeTruthy();

    const started = performance.now();
    const requested = await api.graphql(
      `mutation($s: ID!, $d: ID!) { requestGeneration(scenarioId: $s, count: ${COUNT}, sampler: DDIM, steps: ${STEPS}, guidance: 3, seed: 19, batchSize: 8, detectorId: $d) { __typename ... on MutationRequestGenerationSuccess { data { id uuid } } ... on Error { message } } }`,
      { s: scenarioId, d: detectorId },
    );
    const job = requested.data?.requestGeneration.data;
    expect(job, JSON.stringify(requested)).toBeTruthy();
    expect(await waitForJob(api, job.id, (j) => ["SUCCEEDED", "PARTIAL", "FAILED"].includes(j?.status), 850_000)).toMatchObject({ status: "SUCCEEDED", completedCount: COUNT });
    console.info(`frames job: ${COUNT} samples at ${STEPS} steps generated and scored in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const samples = await db.prisma.sample.findMany({ where: { jobId: job.uuid }, orderBy: { index: "asc" }, include: { artifact: true, scores: true, detections: true } });
    expect(samples).toHaveLength(COUNT);
    const store = artifactStoreFromConfig({ dataDir });
    const frames = new Map<string, ReturnType<typeof decodeCameraFrame>>();
    for (const id of scans) {
      const scan = await db.prisma.referenceScan.findUniqueOrThrow({ where: { id }, include: { artifact: true } });
      frames.set(id, decodeCameraFrame(await store.readBytes(scan.artifact.sha256), 40_000_000));
    }
    const drawnFrames = new Set<string>();
    for (const sample of samples) {
      const labels = sample.labels as { boxes: { class: string; x: number; y: number; width: number; height: number }[]; image: { width: number; height: number }; changed: { x: number; y: number; width: number; height: number }[] };
      const parameters = sample.parameters as Record<string, string | number>;
      drawnFrames.add(String(parameters.frame));
      expect(labels.image).toEqual({ width: 1280, height: 720 });
      const [box] = labels.boxes;
      expect(box!.class).toBe(parameters.hazard);
      // the box stands on the road: its foot f·H/d below the horizon
      expect(box!.y + box!.height).toBe(Math.round(UDACITY_CAMERA.horizonRow + (UDACITY_CAMERA.focalLengthPx * UDACITY_CAMERA.heightM) / Number(parameters.distanceM)));
      expect(sample.scores).toHaveLength(1);
      const [score] = sample.scores;
      // detections away from the inserted box are the frame's own objects: never false positives
      const counted = sample.detections.filter((d) => d.matchedLabel === null && !d.context);
      expect(score!.falsePositives).toBe(counted.length);
      for (const d of sample.detections.filter((d) => d.context)) {
        const [changed] = labels.changed;
        expect(d.x2 <= changed!.x || d.x1 >= changed!.x + changed!.width || d.y2 <= changed!.y || d.y1 >= changed!.y + changed!.height).toBe(true);
      }
    }
    expect(drawnFrames.size).toBe(scans.length);
    // Udacity test frames show cars: yolov8n sees them in the untouched part of the frame
    expect(samples.some((s) => s.detections.some((d) => d.context && d.className === "car"))).toBe(true);
    // the "before": each untouched frame scored once by the detector; the frame's cars are seen before and after
    const detectorRow = await db.prisma.detectorPackage.findFirstOrThrow({ where: { name: "yolov8n_int8" } });
    const before = await db.prisma.frameScore.findMany({ where: { detectorPackageId: detectorRow.id } });
    expect(before.map((f) => f.referenceScanId).sort()).toEqual([...scans].sort());
    type Box = { className: string; x1: number; y1: number; x2: number; y2: number };
    const iou = (a: Box, b: Box) => {
      const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
      const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
      return (w * h) / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - w * h);
    };
    const seenBefore = new Map(before.map((f) => [f.referenceScanId, f.detections as Box[]]));
    const contextCars = samples.flatMap((s) => s.detections.filter((d) => d.context && d.className === "car").map((d) => ({ d, frame: String((s.parameters as Record<string, string>).frame) })));
    const alsoBefore = contextCars.filter(({ d, frame }) => (seenBefore.get(frame) ?? []).some((b) => b.className === "car" && iou(b, d) >= 0.5));
    console.info(`frames job: ${contextCars.length} context car detections, ${alsoBefore.length} of them also seen in the untouched frame (IoU ≥ 0.5)`);
    expect(alsoBefore.length).toBeGreaterThan(contextCars.length / 2);

    // every pixel outside the box and its band is the source frame's (checked on every 8th sample: decoding 1280x720 PNGs)
    for (const sample of samples.filter((s) => s.index % 8 === 0)) {
      const source = frames.get(String((sample.parameters as Record<string, string>).frame))!;
      const result = decodeCameraFrame(await store.readBytes(sample.artifact!.sha256), 40_000_000);
      const [changed] = (sample.labels as { changed: { x: number; y: number; width: number; height: number }[] }).changed;
      let differing = 0;
      let outside = 0;
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < 1280 * 720; p++) {
          const x = p % 1280;
          const y = Math.floor(p / 1280);
          const inside = x >= changed!.x && x < changed!.x + changed!.width && y >= changed!.y && y < changed!.y + changed!.height;
          if (result.planes[c]![p] !== source.planes[c]![p]) (inside ? differing++ : outside++);
        }
      expect(outside).toBe(0);
      expect(differing).toBeGreaterThan(0);
    }

    const report = (await api.graphql(REPORT, { jobId: job.id, detectorId })).data?.jobReport;
    expect(report.__typename).toBe("QueryJobReportSuccess");
    expect(report.data).toMatchObject({ samples: COUNT, unscored: 0, overall: { n: COUNT } });
    const byName = new Map<string, any>(report.data.byParameter.map((b: any) => [b.parameter, b]));
    for (const name of ["distanceM", "hazard", "weather", "timeOfDay", "frame"]) expect(byName.has(name), name).toBe(true);
    expect(byName.get("distanceM").levels.map((l: any) => l.label).length).toBe(5);
    expect(byName.get("distanceM").levels.reduce((n: number, l: any) => n + l.n, 0)).toBe(COUNT);
    expect(new Set(byName.get("hazard").levels.map((l: any) => l.value))).toEqual(new Set(["animal", "pedestrian", "vehicle"]));
    console.info(`frames job report: overall misses ${report.data.overall.misses}/${COUNT}; by distance ${byName.get("distanceM").levels.map((l: any) => `${l.label}: ${l.misses}/${l.n}`).join(", ")}`);

    // the YOLO export's boxes are the rows' ground truth, normalised by the frame's size
    const exported = await api.graphql(`mutation($f: ExportFilter) { exportDataset(filter: $f, format: YOLO) { __typename ... on MutationExportDatasetSuccess { data { url sampleCount } } ... on Error { message } } }`, { f: { jobId: job.id } });
    expect(exported.data?.exportDataset.data.sampleCount).toBe(COUNT);
    const zip = unzipSync(new Uint8Array(await (await api.fetch(exported.data?.exportDataset.data.url)).arrayBuffer()));
    for (const sample of samples) {
      const file = Object.keys(zip).find((name) => name.startsWith("labels/") && name.endsWith(`/${sample.id}.txt`));
      expect(file, sample.id).toBeTruthy();
      const [line] = strFromU8(zip[file!]!).trim().split("\n");
      const [, cx, cy, w, h] = line!.split(" ").map(Number);
      const [box] = (sample.labels as { boxes: { x: number; y: number; width: number; height: number }[] }).boxes;
      expect(cx! * 1280).toBeCloseTo(box!.x + box!.width / 2, 2);
      expect(cy! * 720).toBeCloseTo(box!.y + box!.height / 2, 2);
      expect(w! * 1280).toBeCloseTo(box!.width, 2);
      expect(h! * 720).toBeCloseTo(box!.height, 2);
      const image = Object.keys(zip).find((name) => name.endsWith(`/${sample.id}.png`));
      expect(image).toBeTruthy();
    }

    const withContext = samples.find((s) => s.detections.some((d) => d.context))!;
    shown = { id: withContext.id, box: (withContext.labels as { boxes: { x: number; y: number; width: number; height: number }[] }).boxes[0]!, context: withContext.detections.filter((d) => d.context).length };

    // a sample made again from its record alone: the frame by its sha256, the same bytes
    const reproduced = await api.graphql(`mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches expectedSha256 actualSha256 } } ... on Error { message } } }`, {
      id: globalId("Sample", samples[5]!.id),
    });
    expect(reproduced.data?.reproduceSample, JSON.stringify(reproduced)).toMatchObject({ data: { matches: true } });
  });

  it.skipIf(!hasChromium)("the gallery shows the full frame with the intended box and the detections, the frame's own objects as context", { timeout: 120_000 }, async () => {
    expect(shown).not.toBeNull();
    const browser = await launchBrowser();
    try {
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      await page.setViewportSize({ width: 1600, height: 1200 });
      await signIn(page, api.service.url, api.adminKey);
      await page.goto(`${api.service.url}/gallery/#/sample/${encodeURIComponent(globalId("Sample", shown!.id))}`);
      await ready(page, "#/sample/");
      const canvas = await page.waitForSelector(`#sample-canvas[data-drawn="true"][data-sample="${shown!.id}"]`);
      expect(await canvas.evaluate((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([1280, 720]);
      const kinds = await page.$$eval("#boxes tr[data-kind]", (rows) => rows.map((r) => r.getAttribute("data-kind")));
      expect(kinds.filter((k) => k === "intended")).toHaveLength(1);
      expect(kinds.filter((k) => k === "context")).toHaveLength(shown!.context);
      // the green intended box lands on the stored box (scale 1: the frame's own pixels)
      const shot = decodePng(await canvas.screenshot({ path: path.join(os.tmpdir(), "rareforge-frames-gallery.png") }));
      let minX = Infinity;
      let minY = Infinity;
      let maxX = -Infinity;
      let maxY = -Infinity;
      for (let y = 0; y < shot.height; y++)
        for (let x = 0; x < shot.width; x++) {
          const o = (y * shot.width + x) * shot.channels;
          if (shot.data[o + 1]! > 200 && shot.data[o]! < 90 && shot.data[o + 2]! < 90) [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
        }
      const { x, y, width, height } = shown!.box;
      expect(Math.abs(minX - (x - 1))).toBeLessThanOrEqual(2);
      expect(Math.abs(minY - (y - 1))).toBeLessThanOrEqual(2);
      expect(Math.abs(maxX - (x + width + 1))).toBeLessThanOrEqual(2);
      expect(Math.abs(maxY - (y + height + 1))).toBeLessThanOrEqual(2);
      expect(browser.cspViolations).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
