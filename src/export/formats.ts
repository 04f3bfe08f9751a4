// The three dataset layouts. Each walks the export's samples once, a page at a time, and hands every entry
// to the zip one at a time.
import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { text } from "node:stream/consumers";
import { decode as decodePng } from "fast-png";
import { stringify as toYaml } from "yaml";
import type { Database, Prisma } from "../db/index.ts";
import { dicom } from "../imaging/index.ts";
import { storedRecord } from "../provenance/index.ts";
import type { GroundTruthBox } from "../models/index.ts";
import type { ArtifactStore } from "../storage/index.ts";
import type { ExportModel } from "./models.ts";
import { readSamples, type ExportSample, type SampleFile } from "./samples.ts";
import { SPLITS, splitOf, type SplitName, type SplitSpec } from "./split.ts";
import type { ZipWriter } from "./zip.ts";

export const EXPORT_FORMATS = ["YOLO", "COCO", "DICOM"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportContext {
  db: Database;
  store: ArtifactStore;
  exportId: string;
  createdAt: Date;
  where: Prisma.SampleWhereInput;
  split: SplitSpec;
  models: Map<string, ExportModel>;
  /** The export's class list; YOLO class i / COCO category i + 1. */
  classes: string[];
  zip: ZipWriter;
  /** Called once per sample whose files are in the zip. */
  written(split: SplitName): Promise<void>;
}

/** A box clipped to the image, as corners in pixels; null when nothing of it is inside. */
export function clipBox(box: GroundTruthBox, width: number, height: number): { x1: number; y1: number; x2: number; y2: number } | null {
  const x1 = Math.max(0, Math.min(width, box.x));
  const y1 = Math.max(0, Math.min(height, box.y));
  const x2 = Math.max(0, Math.min(width, box.x + box.width));
  const y2 = Math.max(0, Math.min(height, box.y + box.height));
  return x2 > x1 && y2 > y1 ? { x1, y1, x2, y2 } : null;
}

const modelOf = (context: ExportContext, sample: ExportSample) => context.models.get(sample.modelPackageId ?? "")!;
/** The sample image's size: a camera frame's own, else the model's output size. */
const imageSizeOf = (context: ExportContext, sample: ExportSample): { width: number; height: number } => sample.image ?? modelOf(context, sample);

/** The PNG to put in an image dataset: the artifact itself, or a DICOM sample's PNG preview. */
function imageFileOf(sample: ExportSample): { sha256: string; extension: string } {
  if (sample.artifact.mediaType === "image/png") return { sha256: sample.artifact.sha256, extension: "png" };
  const preview = sample.files.find((f) => f.mediaType === "image/png");
  if (preview) return { sha256: preview.sha256, extension: "png" };
  throw new Error(`sample ${sample.id} has no PNG image (artifact ${sample.artifact.mediaType}, no PNG preview)`);
}

// ---------------------------------------------------------------------------------------------- YOLO
/** One line per box: class cx cy w h, normalised to [0, 1] (Ultralytics detection format). */
export function yoloLabelLines(sample: ExportSample, model: { width: number; height: number }, classes: string[]): string[] {
  const lines: string[] = [];
  for (const box of sample.boxes) {
    const clipped = clipBox(box, model.width, model.height);
    if (!clipped) continue;
    const cx = (clipped.x1 + clipped.x2) / 2 / model.width;
    const cy = (clipped.y1 + clipped.y2) / 2 / model.height;
    const w = (clipped.x2 - clipped.x1) / model.width;
    const h = (clipped.y2 - clipped.y1) / model.height;
    lines.push([classes.indexOf(box.class), cx, cy, w, h].map((v, i) => (i === 0 ? String(v) : v.toFixed(6))).join(" "));
  }
  return lines;
}

export async function writeYolo(context: ExportContext): Promise<void> {
  const { zip } = context;
  for (const split of SPLITS) {
    await zip.directory(`images/${split}`);
    await zip.directory(`labels/${split}`);
  }
  for await (const sample of readSamples(context.db, context.where)) {
    const split = splitOf(context.split, sample.id);
    const image = imageFileOf(sample);
    await zip.add(`images/${split}/${sample.id}.${image.extension}`, context.store.read(image.sha256), { store: true });
    const lines = yoloLabelLines(sample, imageSizeOf(context, sample), context.classes);
    // An image without objects gets an empty label file: a background image, not a missing label.
    await zip.add(`labels/${split}/${sample.id}.txt`, lines.length > 0 ? `${lines.join("\n")}\n` : "");
    await context.written(split);
  }
  const dataYaml = {
    // No `path`: Ultralytics then resolves the splits against the directory holding data.yaml.
    train: "images/train",
    val: "images/val",
    test: "images/test",
    nc: context.classes.length,
    names: Object.fromEntries(context.classes.map((name, i) => [i, name])),
  };
  await zip.add("data.yaml", `# RareForge export ${context.exportId}\n${toYaml(dataYaml)}`);
}

// ---------------------------------------------------------------------------------------------- COCO
export function cocoCategories(context: Pick<ExportContext, "classes" | "models">) {
  const domainOf = (name: string) => [...context.models.values()].find((m) => m.classes.includes(name))?.domain.toLowerCase() ?? "";
  return context.classes.map((name, i) => ({ id: i + 1, name, supercategory: domainOf(name) }));
}

/** COCO's per-image record, with RareForge's provenance under `rareforge`. */
function cocoImage(context: ExportContext, sample: ExportSample, imageId: number) {
  const model = imageSizeOf(context, sample);
  const provenance = sample.provenance ?? {};
  return {
    id: imageId,
    file_name: `${sample.id}.${imageFileOf(sample).extension}`,
    width: model.width,
    height: model.height,
    date_captured: sample.createdAt.toISOString(),
    rareforge: {
      sampleId: sample.id,
      jobId: sample.jobId,
      index: sample.index,
      scenario: sample.scenario,
      parameters: sample.parameters,
      artifactSha256: sample.artifact.sha256,
      provenance: { record: provenance.record ?? null, recordJson: provenance.recordJson ?? null, timings: provenance.timings ?? null },
    },
  };
}

/** A temporary file that JSON array items are appended to, honouring back-pressure. */
class ArrayPart {
  private readonly stream: WriteStream;
  private count = 0;
  constructor(readonly file: string) {
    this.stream = createWriteStream(file);
  }
  async push(item: unknown): Promise<void> {
    if (!this.stream.write(`${this.count++ === 0 ? "" : ","}${JSON.stringify(item)}`)) await once(this.stream, "drain");
  }
  async close(): Promise<void> {
    this.stream.end();
    await finished(this.stream);
  }
}

/**
 * Images go into the zip in one pass over the samples; each split's `images` and `annotations` arrays are
 * appended to temporary files on the way (so no array is held in memory and the samples are read once), and
 * each instances_<split>.json is then streamed from them. The temporary files are removed whatever happens.
 */
export async function writeCoco(context: ExportContext): Promise<void> {
  const { zip } = context;
  for (const split of SPLITS) await zip.directory(`images/${split}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), "rareforge-coco-"));
  const parts = Object.fromEntries(
    SPLITS.map((split) => [split, { images: new ArrayPart(path.join(dir, `${split}.images`)), annotations: new ArrayPart(path.join(dir, `${split}.annotations`)), annotationId: 0 }]),
  ) as Record<SplitName, { images: ArrayPart; annotations: ArrayPart; annotationId: number }>;
  try {
    // Image ids number the export's samples in reading order (job, index), unique across the splits.
    let imageId = 0;
    for await (const sample of readSamples(context.db, context.where, { withProvenance: true })) {
      imageId++;
      const split = splitOf(context.split, sample.id);
      const part = parts[split];
      const image = imageFileOf(sample);
      await zip.add(`images/${split}/${sample.id}.${image.extension}`, context.store.read(image.sha256), { store: true });
      await part.images.push(cocoImage(context, sample, imageId));
      const model = imageSizeOf(context, sample);
      for (const box of sample.boxes) {
        const clipped = clipBox(box, model.width, model.height);
        if (!clipped) continue;
        const bbox = [clipped.x1, clipped.y1, clipped.x2 - clipped.x1, clipped.y2 - clipped.y1] as const;
        await part.annotations.push({ id: ++part.annotationId, image_id: imageId, category_id: context.classes.indexOf(box.class) + 1, bbox, area: bbox[2] * bbox[3], iscrowd: 0, segmentation: [] });
      }
      await context.written(split);
    }
    for (const split of SPLITS) {
      await parts[split].images.close();
      await parts[split].annotations.close();
    }
    const categories = JSON.stringify(cocoCategories(context));
    for (const split of SPLITS) {
      const info = {
        description: `RareForge dataset export ${context.exportId} (${split})`,
        version: "1.0",
        year: context.createdAt.getUTCFullYear(),
        date_created: context.createdAt.toISOString(),
        rareforge: { exportId: context.exportId, split: { name: split, ...context.split } },
      };
      const files = parts[split];
      async function* instances(): AsyncGenerator<string | Buffer> {
        yield `{"info":${JSON.stringify(info)},"licenses":[],"categories":${categories},"images":[`;
        yield* createReadStream(files.images.file);
        yield `],"annotations":[`;
        yield* createReadStream(files.annotations.file);
        yield "]}";
      }
      await zip.add(`annotations/instances_${split}.json`, Readable.from(instances(), { objectMode: false }));
    }
  } finally {
    await Promise.all(SPLITS.flatMap((split) => [parts[split].images.close(), parts[split].annotations.close()])).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------- DICOM
const DICOM_MEDIA_TYPE = "application/dicom";
const isDicom = (mediaType: string) => mediaType === DICOM_MEDIA_TYPE;
const fileWithRole = (files: SampleFile[], role: RegExp, mediaType: string) => files.find((f) => f.mediaType === mediaType && role.test(f.role));

/** UIDs that follow from the job and sample alone, so exporting twice gives the same study, series and instances. */
export function exportUids(sample: Pick<ExportSample, "id" | "jobId">) {
  return {
    studyUid: dicom.uidFromName(`rareforge:job:${sample.jobId}:study`),
    seriesUid: dicom.uidFromName(`rareforge:job:${sample.jobId}:series`),
    sopInstanceUid: dicom.uidFromName(`rareforge:sample:${sample.id}`),
    segSeriesUid: dicom.uidFromName(`rareforge:job:${sample.jobId}:segmentation-series`),
    segInstanceUid: dicom.uidFromName(`rareforge:sample:${sample.id}:segmentation`),
  };
}

/** The sample's lesions (circle labels: the box is the circle's bounding square) as imaging/dicom ground truth. */
function lesionsOf(sample: ExportSample, rows: number, columns: number): dicom.LesionGroundTruth[] {
  return sample.boxes.map((box) =>
    dicom.lesionGroundTruth({ label: box.class, centre: { x: box.x + box.width / 2, y: box.y + box.height / 2 }, radius: Math.min(box.width, box.height) / 2 }, rows, columns),
  );
}

/**
 * A medical sample's DICOM, ground-truth JSON and (with lesions) SEG: the stored ones (Sample.files), or, for
 * samples made before generation wrote DICOM, written now from the 16-bit PNG with UIDs from the job and sample.
 */
async function dicomFilesOf(context: ExportContext, sample: ExportSample, name: string): Promise<{ image: Buffer; labels: string; segmentation: Buffer | null }> {
  const model = modelOf(context, sample);
  const uids = exportUids(sample);
  let image: Buffer;
  let reference: dicom.GroundTruthImageReference;
  // Medical jobs store the DICOM beside the 16-bit PNG (Sample.files, role "dicom"); older samples have only the PNG.
  const storedDicom = isDicom(sample.artifact.mediaType) ? sample.artifact.sha256 : fileWithRole(sample.files, /^dicom$/i, DICOM_MEDIA_TYPE)?.sha256;
  if (storedDicom) {
    image = await context.store.readBytes(storedDicom);
    const storedLabels = fileWithRole(sample.files, /truth|label/i, "application/json");
    const storedSeg = fileWithRole(sample.files, /seg/i, DICOM_MEDIA_TYPE);
    if (storedLabels && (storedSeg || sample.boxes.length === 0)) {
      return { image, labels: await text(context.store.read(storedLabels.sha256)), segmentation: storedSeg ? await context.store.readBytes(storedSeg.sha256) : null };
    }
    const read = await dicom.readDicom(image);
    reference = {
      studyUid: read.summary.studyInstanceUid ?? uids.studyUid,
      seriesUid: read.summary.seriesInstanceUid ?? uids.seriesUid,
      sopInstanceUid: read.summary.sopInstanceUid ?? uids.sopInstanceUid,
      sopClassUid: read.summary.sopClassUid ?? dicom.SECONDARY_CAPTURE_IMAGE_STORAGE,
      rows: read.rows,
      columns: read.columns,
      file: name,
    };
  } else {
    const png = decodePng(await context.store.readBytes(sample.artifact.sha256));
    if (png.channels !== 1 || png.depth !== 16) throw new Error(`sample ${sample.id}: expected a 16-bit grey PNG, got ${png.channels} channel(s) of ${png.depth} bits`);
    const [low, high] = model.storedRange ?? [0, 65535];
    const window = dicom.windowForRange(low, high);
    const record = storedRecord(sample.provenance) ?? {};
    image = Buffer.from(
      dicom.writeSyntheticDicom({
        pixels: png.data as Uint16Array,
        rows: png.height,
        columns: png.width,
        modality: model.modality ?? "OT",
        windowCenter: window.windowCenter,
        windowWidth: window.windowWidth,
        studyUid: uids.studyUid,
        seriesUid: uids.seriesUid,
        sopInstanceUid: uids.sopInstanceUid,
        instanceNumber: sample.index + 1,
        provenance: record,
        model: { name: model.name, version: model.version },
        seriesDescription: `${sample.scenario.name} v${sample.scenario.version}`,
        createdAt: sample.createdAt,
      }),
    );
    reference = {
      studyUid: uids.studyUid,
      seriesUid: uids.seriesUid,
      sopInstanceUid: uids.sopInstanceUid,
      sopClassUid: dicom.SECONDARY_CAPTURE_IMAGE_STORAGE,
      rows: png.height,
      columns: png.width,
      file: name,
    };
  }
  const lesions = lesionsOf(sample, reference.rows, reference.columns);
  const labels = JSON.stringify(dicom.groundTruthDocument(reference, lesions), null, 1);
  const segmentation =
    lesions.length > 0
      ? Buffer.from(
          dicom.writeLesionSegmentation({ image: reference, lesions, seriesUid: uids.segSeriesUid, instanceNumber: sample.index + 1, sopInstanceUid: uids.segInstanceUid, createdAt: sample.createdAt }),
        )
      : null;
  return { image, labels, segmentation };
}

export async function writeDicom(context: ExportContext): Promise<void> {
  const { zip } = context;
  for await (const sample of readSamples(context.db, context.where, { withProvenance: true })) {
    const split = splitOf(context.split, sample.id);
    const name = `${sample.id}.dcm`;
    const files = await dicomFilesOf(context, sample, name);
    await zip.add(`dicom/${split}/${name}`, files.image);
    await zip.add(`labels/${split}/${sample.id}.json`, files.labels);
    if (files.segmentation) await zip.add(`seg/${split}/${sample.id}.seg.dcm`, files.segmentation);
    await context.written(split);
  }
}

export const FORMAT_WRITERS: Record<ExportFormat, (context: ExportContext) => Promise<void>> = { YOLO: writeYolo, COCO: writeCoco, DICOM: writeDicom };
