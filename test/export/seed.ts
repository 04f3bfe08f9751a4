// Sample rows as a finished generation job leaves them, inserted directly (no diffusion): a scenario from the
// library, its model package, a job, samples with parameters drawn by the real sampler, ground truth by the
// model's label rules, a small PNG per sample in the artifact store, and optionally a detector's Score and
// Detection rows. Shared by the export tests, the gallery tests and bench/export.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Database, Prisma } from "../../src/db/index.ts";
import { decode as decodePng } from "fast-png";
import { encodePng, jobSampleUidNames, writeMedicalSampleFiles } from "../../src/imaging/index.ts";
import type { GenerationRecord } from "../../src/provenance/index.ts";
import { deriveLabels, modelManifestSchema, type GroundTruthBox, type ModelManifest, type ScenarioParameters } from "../../src/models/index.ts";
import { canonicalSpecHash, drawParameters, loadScenarioFile, type ScenarioSpec } from "../../src/scenarios/index.ts";
import type { ArtifactStore } from "../../src/storage/index.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

export type SeedOutcome = "HIT" | "MISS" | "WRONG_CLASS" | "INVALID";

export interface SeedOptions {
  /** A file in scenarios/ (name without .yaml). */
  scenario: string;
  count: number;
  seed?: number;
  /** Outcome of sample i for the seeded detector; null leaves it unscored. No detector when omitted. */
  outcome?: (index: number) => SeedOutcome | null;
  /** Rows per createMany. */
  chunk?: number;
  /** Medical samples: also store the DICOM, ground-truth JSON and SEG in Sample.files, as generation does now. */
  medicalFiles?: boolean;
}

export interface SeededJob {
  scenarioId: string;
  scenarioName: string;
  jobId: string;
  modelPackageId: string;
  detectorPackageId: string | null;
  manifest: ModelManifest;
  samples: Array<{ id: string; index: number; boxes: GroundTruthBox[]; parameters: ScenarioParameters; outcome: SeedOutcome | null; sha256: string; files: Array<{ role: string; sha256: string; mediaType: string; byteSize: number }> }>;
}

export function loadManifest(name: string): ModelManifest {
  return modelManifestSchema.parse(JSON.parse(readFileSync(path.join(ROOT, "models", name, "model.json"), "utf8")));
}

/** A picture with its boxes painted in, so a person looking at the gallery sees where the objects are. */
function samplePng(manifest: ModelManifest, boxes: GroundTruthBox[], index: number, record: GenerationRecord): Uint8Array {
  const { width, height } = manifest.image;
  const inside = (x: number, y: number) => boxes.some((b) => x + 0.5 >= b.x && x + 0.5 < b.x + b.width && y + 0.5 >= b.y && y + 0.5 < b.y + b.height);
  if (manifest.image.format === "dicom-gray16" || manifest.image.format === "png-gray16") {
    const [low, high] = (manifest.image.storedRange ?? [0, 65535]) as [number, number];
    const data = new Uint16Array(width * height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[y * width + x] = Math.round(low + (high - low) * (inside(x, y) ? 0.9 : 0.25 + 0.1 * (((x + y + index) % 7) / 7)));
    return encodePng({ width, height, channels: 1, depth: 16, data }, record);
  }
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const sky = y < height / 2;
      data[o] = inside(x, y) ? 200 : sky ? 120 : 70;
      data[o + 1] = inside(x, y) ? 60 : sky ? 140 : 70 + ((x * 7 + index) % 20);
      data[o + 2] = inside(x, y) ? 40 : sky ? 170 : 75;
    }
  return encodePng({ width, height, channels: 3, depth: 8, data }, record);
}

export async function seedJob(db: Database, store: ArtifactStore, options: SeedOptions): Promise<SeededJob> {
  const spec: ScenarioSpec = await loadScenarioFile(path.join(ROOT, "scenarios", `${options.scenario}.yaml`));
  const manifest = loadManifest(spec.model);
  const seed = options.seed ?? 7;
  const chunk = options.chunk ?? 500;
  const domain = manifest.domain === "medical" ? "MEDICAL" : "AUTOMOTIVE";
  const model = await db.prisma.modelPackage.upsert({
    where: { name_version: { name: manifest.name, version: manifest.version } },
    create: { name: manifest.name, version: manifest.version, domain, manifest: manifest as unknown as Prisma.InputJsonValue, manifestSha256: "0".repeat(64), fileHashes: manifest.files },
    update: {},
  });
  const scenario = await db.prisma.scenario.upsert({
    where: { name: spec.name },
    create: { name: spec.name, domain, description: spec.description ?? "", tags: spec.tags ?? [], modelName: spec.model },
    update: {},
  });
  const version = await db.prisma.scenarioVersion.upsert({
    where: { scenarioId_version: { scenarioId: scenario.id, version: 1 } },
    create: { scenarioId: scenario.id, version: 1, spec: spec as unknown as Prisma.InputJsonValue, specHash: canonicalSpecHash(spec), source: "LIBRARY" },
    update: {},
  });
  const detector = options.outcome
    ? await db.prisma.detectorPackage.upsert({
        where: { name_version: { name: `${manifest.domain}-test-detector`, version: "1.0.0" } },
        create: { name: `${manifest.domain}-test-detector`, version: "1.0.0", domain, manifest: {}, manifestSha256: "0".repeat(64), fileHashes: {}, classNames: [], classMap: {} },
        update: {},
      })
    : null;
  const job = await db.prisma.generationJob.create({
    data: {
      scenarioVersionId: version.id,
      modelPackageId: model.id,
      detectorPackageId: detector?.id ?? null,
      status: "SUCCEEDED",
      count: options.count,
      batchSize: 8,
      sampler: "ddim",
      steps: 2,
      guidance: 3,
      seed: BigInt(seed),
      executionProvider: "cpu",
      completedCount: options.count,
      taskCount: Math.ceil(options.count / 8),
      startedAt: new Date(),
      finishedAt: new Date(),
    },
  });

  const seeded: SeededJob["samples"] = [];
  for (let start = 0; start < options.count; start += chunk) {
    const rows: Prisma.SampleCreateManyInput[] = [];
    const scores: Prisma.ScoreCreateManyInput[] = [];
    const detections: Prisma.DetectionCreateManyInput[] = [];
    const artifacts = new Map<string, { byteSize: number; mediaType: string }>();
    for (let index = start; index < Math.min(options.count, start + chunk); index++) {
      const parameters = drawParameters(spec, seed, index) as ScenarioParameters;
      const { boxes } = deriveLabels(manifest, parameters);
      const record: GenerationRecord = {
        model: { name: manifest.name, version: manifest.version, fileHashes: manifest.files },
        sampler: "ddim",
        steps: 2,
        guidance: 3,
        seed,
        index,
        parameters: parameters as Record<string, string | number>,
        executionProvider: "cpu",
        versions: { onnxruntime: "1.30.0", rareforge: "0.1.0" },
        scenario: { id: scenario.id, name: spec.name, version: 1 },
        job: { id: job.id },
      };
      const bytes = samplePng(manifest, boxes, index, record);
      const stored = await store.put(bytes);
      artifacts.set(stored.sha256, { byteSize: stored.byteSize, mediaType: "image/png" });
      const files: SeededJob["samples"][number]["files"] = [];
      if (options.medicalFiles) {
        const png = decodePng(bytes);
        const written = writeMedicalSampleFiles({
          pixels: png.data as Uint16Array,
          rows: png.height,
          columns: png.width,
          modality: manifest.image.modality ?? "MR",
          record,
          model: { name: manifest.name, version: manifest.version },
          lesions: boxes.map((b) => ({ label: b.class, cx: b.fraction.cx, cy: b.fraction.cy, radius: b.width / 2 / manifest.image.width })),
          uidNames: jobSampleUidNames(job.id, index),
          instanceNumber: index + 1,
          createdAt: job.createdAt,
        });
        for (const file of [written.dicom, written.groundTruth, ...(written.segmentation ? [written.segmentation] : [])]) {
          const put = await store.put(file.bytes);
          artifacts.set(put.sha256, { byteSize: put.byteSize, mediaType: file.mediaType });
          files.push({ role: file.role, sha256: put.sha256, mediaType: file.mediaType, byteSize: put.byteSize });
        }
      }
      const id = crypto.randomUUID();
      const outcome = options.outcome?.(index) ?? null;
      rows.push({
        id,
        jobId: job.id,
        index,
        scenarioVersionId: version.id,
        modelPackageId: model.id,
        status: "OK",
        parameters: parameters as Prisma.InputJsonValue,
        condition: [],
        labels: { boxes, masks: [] } as unknown as Prisma.InputJsonValue,
        files: files as unknown as Prisma.InputJsonValue,
        sampler: "ddim",
        steps: 2,
        guidance: 3,
        seed: BigInt(seed),
        executionProvider: "cpu",
        onnxruntimeVersion: "1.30.0",
        rareforgeVersion: "0.1.0",
        provenance: { record, recordJson: JSON.stringify(record), artifact: { sha256: stored.sha256, mediaType: "image/png", byteSize: stored.byteSize }, timings: { generateMs: 1 } } as unknown as Prisma.InputJsonValue,
        artifactId: stored.sha256, // replaced by the Artifact row id below
      });
      seeded.push({ id, index, boxes, parameters, outcome, sha256: stored.sha256, files });
      if (detector && outcome) {
        scores.push({ sampleId: id, detectorPackageId: detector.id, outcome, confidence: outcome === "HIT" ? 0.8 : null, iou: outcome === "HIT" ? 0.7 : null, realismValid: outcome !== "INVALID" });
        const box = boxes[0];
        if (box && (outcome === "HIT" || outcome === "WRONG_CLASS")) {
          // Shifted a little from the intended box, so the two are told apart when drawn.
          const dx = box.width * 0.1;
          detections.push({
            sampleId: id,
            detectorPackageId: detector.id,
            className: outcome === "HIT" ? box.class : "other",
            confidence: 0.8,
            x1: box.x + dx,
            y1: box.y + dx,
            x2: box.x + box.width + dx,
            y2: box.y + box.height + dx,
            matchedLabel: outcome === "HIT" ? 0 : null,
            iou: outcome === "HIT" ? 0.7 : null,
          });
        }
      }
    }
    await db.prisma.artifact.createMany({ data: [...artifacts].map(([sha256, a]) => ({ sha256, mediaType: a.mediaType, byteSize: a.byteSize })), skipDuplicates: true });
    const ids = new Map((await db.prisma.artifact.findMany({ where: { sha256: { in: [...artifacts.keys()] } }, select: { id: true, sha256: true } })).map((a) => [a.sha256, a.id]));
    for (const row of rows) row.artifactId = ids.get(row.artifactId as string)!;
    await db.prisma.sample.createMany({ data: rows });
    if (scores.length > 0) await db.prisma.score.createMany({ data: scores });
    if (detections.length > 0) await db.prisma.detection.createMany({ data: detections });
  }
  return { scenarioId: scenario.id, scenarioName: spec.name, jobId: job.id, modelPackageId: model.id, detectorPackageId: detector?.id ?? null, manifest, samples: seeded };
}
