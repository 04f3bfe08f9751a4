// A generated medical sample as files: the DICOM image (primary), a ground-truth JSON beside it, a DICOM
// Segmentation when the sample has a lesion, and a 16-bit PNG preview (stored units, record embedded).
// Byte-deterministic for a given record: UIDs come from the job id and sample index, dates from the job's
// creation time carried in the record, never from the clock at write time, so reproduceSample matches.
import { createHash } from "node:crypto";
import {
  DicomError,
  groundTruthDocument,
  lesionGroundTruth,
  uidFromName,
  windowFromPixels,
  writeLesionSegmentation,
  writeSyntheticDicom,
  MR_IMAGE_STORAGE,
  SECONDARY_CAPTURE_IMAGE_STORAGE,
  type ImagePlaneGeometry,
  type LesionGroundTruth,
} from "./dicom/index.ts";
import type { GenerationRecord } from "../provenance/index.ts";
import { encodePng } from "./png.ts";

export const DICOM_MEDIA_TYPE = "application/dicom";
export const GROUND_TRUTH_MEDIA_TYPE = "application/json";

/** One file of a sample beside its primary artifact. */
export interface CompanionFile {
  /** "dicom" (the image), "preview" (16-bit PNG, stored units), "ground-truth" (JSON), "segmentation" (DICOM SEG). */
  role: "dicom" | "preview" | "ground-truth" | "segmentation";
  bytes: Uint8Array;
  mediaType: string;
}

export interface MedicalSampleFiles {
  dicom: CompanionFile;
  preview: CompanionFile;
  groundTruth: CompanionFile;
  /** Only when the sample has a lesion with pixels. */
  segmentation?: CompanionFile;
}

/** A lesion as the model was told to draw it, in the condition's units (fractions of the image). */
export interface LesionSpec {
  label: string;
  /** Centre as fractions of width and height; radius as a fraction of the width. */
  cx: number;
  cy: number;
  radius: number;
}

export interface MedicalSampleInput {
  /** Stored values, row-major. */
  pixels: Uint16Array;
  rows: number;
  columns: number;
  modality: string;
  record: GenerationRecord;
  model: { name: string; version: string };
  lesions: LesionSpec[];
  /** The "study" / "series" / "instance" names UIDs are derived from (uidFromName). */
  uidNames: { study: string; series: string; instance: string; segmentationSeries: string; segmentation: string };
  instanceNumber: number;
  createdAt: Date;
  seriesDescription?: string;
  /** When the image was made from a reference scan: its study, patient and geometry are kept. */
  source?: {
    sopClassUid: string;
    sopInstanceUid: string;
    studyUid: string;
    patientName?: string;
    patientId?: string;
    geometry?: ImagePlaneGeometry;
  };
  window?: { center: number; width: number };
}

/** Lesion ground truth at the output resolution from the condition's fractions. */
export function lesionsAt(lesions: LesionSpec[], rows: number, columns: number): LesionGroundTruth[] {
  const found: LesionGroundTruth[] = [];
  for (const lesion of lesions) {
    try {
      found.push(lesionGroundTruth({ label: lesion.label, centre: { x: lesion.cx * columns, y: lesion.cy * rows }, radius: lesion.radius * columns }, rows, columns));
    } catch (error) {
      // A lesion centred outside the image covers no pixel: nothing to annotate.
      if (!(error instanceof DicomError)) throw error;
    }
  }
  return found;
}

export function writeMedicalSampleFiles(input: MedicalSampleInput): MedicalSampleFiles {
  const { rows, columns, pixels } = input;
  const window = input.window ?? (() => {
    const w = windowFromPixels(pixels);
    return { center: w.windowCenter, width: w.windowWidth };
  })();
  const studyUid = input.source?.studyUid ?? uidFromName(input.uidNames.study);
  const seriesUid = uidFromName(input.uidNames.series);
  const sopInstanceUid = uidFromName(input.uidNames.instance);
  const geometry = input.source?.geometry;
  const iod = input.modality === "MR" && geometry ? "mr-image" : "secondary-capture";
  const patient = {
    ...(input.source?.patientName !== undefined ? { patientName: input.source.patientName } : {}),
    ...(input.source?.patientId !== undefined ? { patientId: input.source.patientId } : {}),
  };
  const dicom = writeSyntheticDicom({
    pixels,
    rows,
    columns,
    modality: input.modality,
    windowCenter: window.center,
    windowWidth: window.width,
    studyUid,
    seriesUid,
    sopInstanceUid,
    instanceNumber: input.instanceNumber,
    provenance: input.record as unknown as Record<string, unknown>,
    iod,
    ...(geometry ? { geometry } : {}),
    model: input.model,
    createdAt: input.createdAt,
    ...(input.seriesDescription ? { seriesDescription: input.seriesDescription.slice(0, 64) } : {}),
    ...(input.source ? { source: { sopClassUid: input.source.sopClassUid, sopInstanceUid: input.source.sopInstanceUid } } : {}),
    ...patient,
  });
  const sopClassUid = iod === "mr-image" ? MR_IMAGE_STORAGE : SECONDARY_CAPTURE_IMAGE_STORAGE;
  const lesions = lesionsAt(input.lesions, rows, columns);
  const imageReference = { studyUid, seriesUid, sopInstanceUid, sopClassUid, rows, columns };
  const files: MedicalSampleFiles = {
    dicom: { role: "dicom", bytes: dicom, mediaType: DICOM_MEDIA_TYPE },
    preview: { role: "preview", bytes: encodePng({ width: columns, height: rows, channels: 1, depth: 16, data: pixels }, input.record), mediaType: "image/png" },
    groundTruth: {
      role: "ground-truth",
      bytes: new TextEncoder().encode(JSON.stringify(groundTruthDocument(imageReference, lesions))),
      mediaType: GROUND_TRUTH_MEDIA_TYPE,
    },
  };
  if (lesions.length > 0) {
    files.segmentation = {
      role: "segmentation",
      bytes: writeLesionSegmentation({
        image: { ...imageReference, ...(geometry ? { geometry } : {}), ...patient },
        lesions,
        seriesUid: uidFromName(input.uidNames.segmentationSeries),
        sopInstanceUid: uidFromName(input.uidNames.segmentation),
        instanceNumber: input.instanceNumber,
        createdAt: input.createdAt,
      }),
      mediaType: DICOM_MEDIA_TYPE,
    };
  }
  return files;
}

/** UID names of a job's sample: one study and series per job, one instance per sample. */
export function jobSampleUidNames(jobId: string, index: number): MedicalSampleInput["uidNames"] {
  const job = `rareforge:job:${jobId}`;
  return {
    study: `${job}:study`,
    series: `${job}:series`,
    instance: `${job}:sample:${index}`,
    segmentationSeries: `${job}:segmentation-series`,
    segmentation: `${job}:sample:${index}:segmentation`,
  };
}

/** For a record without a job (e.g. a library call): names from the record's own hash, still deterministic. */
export function recordUidNames(record: GenerationRecord): MedicalSampleInput["uidNames"] {
  const hash = createHash("sha256").update(JSON.stringify(record)).digest("hex");
  return jobSampleUidNames(`record-${hash}`, record.index);
}
