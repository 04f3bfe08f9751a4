// Dataset export end to end over real HTTP: exportDataset records an export, /exports/<id>.zip streams it, and
// what comes out is checked against the database — YOLO layout and label lines, COCO instances against a zod
// schema of the format, DICOM with ground truth and SEG — plus filters, deterministic splits and refusals.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { unzipSync, strFromU8 } from "fflate";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Database } from "../../src/db/index.ts";
import { clipBox, manifestClasses, splitOf } from "../../src/export/index.ts";
import { dicom } from "../../src/imaging/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { seedJob, type SeededJob } from "./seed.ts";

const EXPORT = /* GraphQL */ `
  mutation Export($filter: ExportFilter, $format: ExportFormat!, $split: ExportSplit) {
    exportDataset(filter: $filter, format: $format, split: $split) {
      __typename
      ... on MutationExportDatasetSuccess { data { id uuid format status sampleCount url split } }
      ... on Error { message }
      ... on ValidationError { issues { path message } }
    }
  }
`;
const STATUS = /* GraphQL */ `
  query Status($id: ID!) { datasetExport(id: $id) { __typename ... on QueryDatasetExportSuccess { data { status sampleCount writtenCount progress byteCount error } } } }
`;

/** COCO instances (cocodataset.org/#format-data), plus RareForge's per-image `rareforge` field. */
const cocoSchema = z.object({
  info: z.object({ description: z.string(), version: z.string(), year: z.number().int(), date_created: z.string() }).passthrough(),
  licenses: z.array(z.unknown()),
  categories: z.array(z.object({ id: z.number().int().positive(), name: z.string().min(1), supercategory: z.string() })).min(1),
  images: z.array(
    z.object({
      id: z.number().int().positive(),
      file_name: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      date_captured: z.string(),
      rareforge: z.object({ sampleId: z.uuid(), jobId: z.uuid(), index: z.number().int(), parameters: z.record(z.string(), z.unknown()), provenance: z.object({ record: z.record(z.string(), z.unknown()) }).passthrough() }).passthrough(),
    }),
  ),
  annotations: z.array(
    z.object({
      id: z.number().int().positive(),
      image_id: z.number().int().positive(),
      category_id: z.number().int().positive(),
      bbox: z.tuple([z.number().min(0), z.number().min(0), z.number().positive(), z.number().positive()]),
      area: z.number().positive(),
      iscrowd: z.union([z.literal(0), z.literal(1)]),
    }),
  ),
});

describe.each(testBackends())("dataset export on $name", (backend) => {
  let db: Database;
  let api: TestService;
  let root: string;
  let road: SeededJob;
  let brain: SeededJob;
  let brainWithFiles: SeededJob;

  // Outcomes cycle so every filter has something to keep and something to drop.
  const roadOutcome = (i: number) => (["HIT", "MISS", "WRONG_CLASS", "HIT", "INVALID", null] as const)[i % 6]!;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), "rareforge-export-"));
    db = await backend.open();
    api = await startTestService(db, { dataDir: root, importLibraryOnStart: false, runWorker: false });
    const store = artifactStoreFromConfig({ dataDir: root });
    road = await seedJob(db, store, { scenario: "small-distant-hazards-sweep", count: 200, outcome: roadOutcome });
    brain = await seedJob(db, store, { scenario: "pathology-mix-coverage", count: 12, outcome: (i) => (i % 2 ? "MISS" : "HIT") });
    brainWithFiles = await seedJob(db, store, { scenario: "small-tumour-near-ventricle", count: 6, medicalFiles: true });
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const requestExport = async (variables: Record<string, unknown>) => {
    const response = await api.graphql(EXPORT, variables);
    return response.data!.exportDataset;
  };
  const download = async (url: string) => {
    const response = await api.fetch(`${url}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    return new Uint8Array(await response.arrayBuffer());
  };
  const exported = async (variables: Record<string, unknown>) => {
    const created = await requestExport(variables);
    expect(created.__typename).toBe("MutationExportDatasetSuccess");
    const bytes = await download(created.data.url);
    return { created: created.data, bytes, files: unzipSync(bytes) };
  };
  const jobFilter = (job: SeededJob) => ({ jobId: job.jobId });
  /** Samples of a job an export keeps: scored INVALID ones never. */
  const exportable = (job: SeededJob) => job.samples.filter((s) => s.outcome !== "INVALID");

  it("YOLO export of a 200-sample job: every image has a label file, every line has 5 numbers in range, data.yaml lists the classes", async () => {
    const { created, files } = await exported({ filter: jobFilter(road), format: "YOLO", split: { seed: 3 } });
    const expected = exportable(road);
    expect(created.sampleCount).toBe(expected.length);

    const classes = manifestClasses(road.manifest);
    expect(classes).toEqual(["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"]);
    const dataYaml = parseYaml(strFromU8(files["data.yaml"]!));
    expect(dataYaml).toMatchObject({ train: "images/train", val: "images/val", test: "images/test", nc: classes.length });
    expect(Object.values(dataYaml.names)).toEqual(classes);

    const images = Object.keys(files).filter((name) => /^images\/(train|val|test)\/[^/]+\.png$/.test(name));
    expect(images).toHaveLength(expected.length);
    const byId = new Map(road.samples.map((s) => [s.id, s]));
    const { width, height } = road.manifest.image;
    for (const image of images) {
      const [, split, id] = /^images\/(\w+)\/(.+)\.png$/.exec(image)!;
      const label = files[`labels/${split}/${id}.txt`];
      expect(label, `label file for ${image}`).toBeDefined();
      const sample = byId.get(id!)!;
      expect(split).toBe(splitOf({ train: 0.8, val: 0.1, test: 0.1, seed: 3 }, id!));
      expect(createHash("sha256").update(files[image]!).digest("hex")).toBe(sample.sha256);
      const lines = strFromU8(label!).split("\n").filter((l) => l !== "");
      expect(lines).toHaveLength(sample.boxes.length);
      lines.forEach((line, i) => {
        const numbers = line.split(" ").map(Number);
        expect(numbers).toHaveLength(5);
        expect(numbers.every(Number.isFinite)).toBe(true);
        const [cls, cx, cy, w, h] = numbers as [number, number, number, number, number];
        expect(Number.isInteger(cls) && cls >= 0 && cls < classes.length).toBe(true);
        for (const v of [cx, cy, w, h]) expect(v >= 0 && v <= 1).toBe(true);
        const box = sample.boxes[i]!;
        const clipped = clipBox(box, width, height)!;
        expect(classes[cls]).toBe(box.class);
        expect(cx).toBeCloseTo((clipped.x1 + clipped.x2) / 2 / width, 5);
        expect(w).toBeCloseTo((clipped.x2 - clipped.x1) / width, 5);
        expect(cy).toBeCloseTo((clipped.y1 + clipped.y2) / 2 / height, 5);
        expect(h).toBeCloseTo((clipped.y2 - clipped.y1) / height, 5);
      });
    }
    const summary = JSON.parse(strFromU8(files["export.json"]!));
    expect(summary.samples).toBe(expected.length);
    expect(summary.perSplit.train + summary.perSplit.val + summary.perSplit.test).toBe(expected.length);
    // 200 draws at 0.8: far outside 0.6..0.95 would mean the split ignores its fractions.
    expect(summary.perSplit.train / expected.length).toBeGreaterThan(0.6);
    expect(summary.perSplit.train / expected.length).toBeLessThan(0.95);

    const status = (await api.graphql(STATUS, { id: created.id })).data!.datasetExport.data;
    expect(status).toMatchObject({ status: "COMPLETED", sampleCount: expected.length, writtenCount: expected.length, progress: 1, error: null });
    expect(status.byteCount).toBeGreaterThan(0);
  });

  it("the same export downloads as the same bytes; another seed moves samples between splits", async () => {
    const created = (await requestExport({ filter: jobFilter(road), format: "YOLO", split: { seed: 3 } })).data;
    const [a, b] = [await download(created.url), await download(created.url)];
    expect(createHash("sha256").update(a).digest("hex")).toBe(createHash("sha256").update(b).digest("hex"));
    const other = await exported({ filter: jobFilter(road), format: "YOLO", split: { seed: 4 } });
    const splitsOf = (files: Record<string, Uint8Array>) => Object.keys(files).filter((n) => n.startsWith("images/") && n.endsWith(".png")).sort();
    expect(splitsOf(other.files)).not.toEqual(splitsOf(unzipSync(a)));
  });

  it("COCO export passes the COCO schema check and its boxes match the database", async () => {
    const { files } = await exported({ filter: jobFilter(road), format: "COCO" });
    const rows = await db.prisma.sample.findMany({ where: { jobId: road.jobId }, select: { id: true, labels: true, provenance: true } });
    const rowById = new Map(rows.map((r) => [r.id, r]));
    const { width, height } = road.manifest.image;
    let images = 0;
    let annotations = 0;
    for (const split of ["train", "val", "test"]) {
      const coco = cocoSchema.parse(JSON.parse(strFromU8(files[`annotations/instances_${split}.json`]!)));
      expect(coco.categories.map((c) => c.name)).toEqual(manifestClasses(road.manifest));
      const imageById = new Map(coco.images.map((image) => [image.id, image]));
      expect(imageById.size).toBe(coco.images.length);
      for (const image of coco.images) {
        expect(files[`images/${split}/${image.file_name}`], image.file_name).toBeDefined();
        const row = rowById.get(image.rareforge.sampleId)!;
        expect(image.rareforge.provenance.record).toEqual((row.provenance as any).record);
        expect([image.width, image.height]).toEqual([width, height]);
      }
      const annotationIds = new Set(coco.annotations.map((a) => a.id));
      expect(annotationIds.size).toBe(coco.annotations.length);
      for (const annotation of coco.annotations) {
        const image = imageById.get(annotation.image_id);
        expect(image, `annotation ${annotation.id} points at an image of this split`).toBeDefined();
        const boxes = (rowById.get(image!.rareforge.sampleId)!.labels as any).boxes;
        const clipped = clipBox(boxes[0], width, height)!;
        expect(coco.categories.find((c) => c.id === annotation.category_id)!.name).toBe(boxes[0].class);
        expect(annotation.bbox[0]).toBeCloseTo(clipped.x1, 9);
        expect(annotation.bbox[1]).toBeCloseTo(clipped.y1, 9);
        expect(annotation.bbox[2]).toBeCloseTo(clipped.x2 - clipped.x1, 9);
        expect(annotation.bbox[3]).toBeCloseTo(clipped.y2 - clipped.y1, 9);
      }
      images += coco.images.length;
      annotations += coco.annotations.length;
    }
    const expected = exportable(road);
    expect(images).toBe(expected.length);
    expect(annotations).toBe(expected.reduce((n, s) => n + s.boxes.length, 0));
  });

  it("filters: misses only (MISS and WRONG_CLASS), outcomes, drawn parameters; INVALID never exported", async () => {
    const ids = (files: Record<string, Uint8Array>) =>
      Object.keys(files)
        .filter((n) => n.startsWith("images/") && n.endsWith(".png"))
        .map((n) => path.basename(n, ".png"))
        .sort();
    const misses = await exported({ filter: { ...jobFilter(road), missesOnly: true }, format: "YOLO" });
    expect(ids(misses.files)).toEqual(road.samples.filter((s) => s.outcome === "MISS" || s.outcome === "WRONG_CLASS").map((s) => s.id).sort());

    const hits = await exported({ filter: { ...jobFilter(road), outcomes: ["HIT"] }, format: "YOLO" });
    expect(ids(hits.files)).toEqual(road.samples.filter((s) => s.outcome === "HIT").map((s) => s.id).sort());

    const fog = await exported({ filter: { ...jobFilter(road), parameters: { weather: "fog", hazard: "debris" } }, format: "YOLO" });
    const expectedFog = exportable(road).filter((s) => s.parameters.weather === "fog" && s.parameters.hazard === "debris");
    expect(expectedFog.length).toBeGreaterThan(0);
    expect(ids(fog.files)).toEqual(expectedFog.map((s) => s.id).sort());

    const scenario = await exported({ filter: { scenarioId: road.scenarioId }, format: "YOLO" });
    expect(ids(scenario.files)).toEqual(exportable(road).map((s) => s.id).sort());
  });

  it("refuses bad requests with typed errors and records nothing", async () => {
    const before = await db.prisma.datasetExport.count();
    // The GraphQL enum has no INVALID; the service itself refuses it with the reason (the CLI's path).
    const invalid = await api.graphql(EXPORT, { filter: { ...jobFilter(road), outcomes: ["MISS", "INVALID"] }, format: "YOLO" });
    expect(invalid.errors?.[0]?.message).toMatch(/INVALID/);
    await expect(api.service.services.exports.create({ filter: { outcomes: ["MISS", "INVALID"] }, format: "yolo" })).rejects.toThrow(/filter\.outcomes: INVALID samples are never exported/);
    await expect(api.service.services.exports.create({ filter: {}, format: "tar" })).rejects.toThrow(/unknown format "tar"; allowed: yolo, coco, dicom/);

    const both = await requestExport({ filter: { missesOnly: true, outcomes: ["MISS"] }, format: "COCO" });
    expect(both.__typename).toBe("ValidationError");

    const split = await requestExport({ filter: jobFilter(road), format: "YOLO", split: { train: 0.9, val: 0.2, test: 0 } });
    expect(split.__typename).toBe("ValidationError");
    expect(split.issues[0].message).toMatch(/must be 1/);

    const dicomOfRoad = await requestExport({ filter: jobFilter(road), format: "DICOM" });
    expect(dicomOfRoad.__typename).toBe("ValidationError");
    expect(dicomOfRoad.message).toMatch(/medical samples only.*road-hazards/);

    const missing = await requestExport({ filter: { jobId: "00000000-0000-4000-8000-000000000000" }, format: "COCO" });
    expect(missing.__typename).toBe("NotFoundError");

    const params = await requestExport({ filter: { parameters: { weather: { nested: 1 } } }, format: "COCO" });
    expect(params.__typename).toBe("ValidationError");
    expect(params.issues[0].path).toBe("filter.parameters.weather");

    expect(await db.prisma.datasetExport.count()).toBe(before);
    expect((await api.fetch(`/exports/00000000-0000-4000-8000-000000000000.zip`)).status).toBe(404);
  });

  it("DICOM export of medical samples: DICOM written on the fly from the 16-bit PNG, ground-truth JSON and SEG that match the labels", async () => {
    const { files } = await exported({ filter: jobFilter(brain), format: "DICOM" });
    const samples = exportable(brain);
    const dicoms = Object.keys(files).filter((n) => /^dicom\/\w+\/.+\.dcm$/.test(n));
    expect(dicoms).toHaveLength(samples.length);
    const { width } = brain.manifest.image;
    for (const sample of samples) {
      const split = splitOf({ train: 0.8, val: 0.1, test: 0.1, seed: 0 }, sample.id);
      const image = await dicom.readDicom(files[`dicom/${split}/${sample.id}.dcm`]!);
      expect(image.summary.syntheticData).toBe("YES");
      expect([image.rows, image.columns]).toEqual([brain.manifest.image.height, width]);
      const record = dicom.readProvenanceRecord(files[`dicom/${split}/${sample.id}.dcm`]!);
      expect(record).toMatchObject({ index: sample.index, parameters: sample.parameters });
      const labels = JSON.parse(strFromU8(files[`labels/${split}/${sample.id}.json`]!));
      expect(labels.image.sopInstanceUid).toBe(image.summary.sopInstanceUid);
      expect(labels.lesions).toHaveLength(sample.boxes.length);
      labels.lesions.forEach((lesion: any, i: number) => {
        const box = sample.boxes[i]!;
        expect(lesion.label).toBe(box.class);
        expect(lesion.centre.x).toBeCloseTo(box.x + box.width / 2, 9);
        expect(lesion.radius).toBeCloseTo(box.width / 2, 9);
      });
      const seg = files[`seg/${split}/${sample.id}.seg.dcm`];
      if (sample.boxes.length > 0) {
        expect(seg, `SEG of ${sample.id}`).toBeDefined();
        expect(strFromU8(seg!.subarray(128, 132))).toBe("DICM");
      } else {
        expect(seg).toBeUndefined();
      }
    }
    expect(samples.some((s) => s.boxes.length > 0)).toBe(true);
  });

  it("DICOM export copies the DICOM, ground truth and SEG that generation stored beside the sample", async () => {
    const { files } = await exported({ filter: jobFilter(brainWithFiles), format: "DICOM" });
    const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    for (const sample of brainWithFiles.samples) {
      const split = splitOf({ train: 0.8, val: 0.1, test: 0.1, seed: 0 }, sample.id);
      const stored = (role: string) => sample.files.find((f) => f.role === role)!.sha256;
      expect(sha(files[`dicom/${split}/${sample.id}.dcm`]!)).toBe(stored("dicom"));
      expect(sha(files[`labels/${split}/${sample.id}.json`]!)).toBe(stored("ground-truth"));
      expect(sha(files[`seg/${split}/${sample.id}.seg.dcm`]!)).toBe(stored("segmentation"));
    }
  });

  it("a client that goes away mid-download leaves the export FAILED with the reason, and it can be downloaded again", async () => {
    const created = (await requestExport({ filter: jobFilter(road), format: "COCO" })).data;
    const controller = new AbortController();
    const response = await api.fetch(`${created.url}`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    let status: any;
    for (let i = 0; i < 100; i++) {
      status = (await api.graphql(STATUS, { id: created.id })).data!.datasetExport.data;
      if (status.status === "FAILED") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status.status).toBe("FAILED");
    expect(status.error).toMatch(/after \d+ of \d+ samples/);
    const again = unzipSync(await download(created.url));
    expect(again["annotations/instances_train.json"]).toBeDefined();
  });
});
