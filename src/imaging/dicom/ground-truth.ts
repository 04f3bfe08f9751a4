import dcmjs from "dcmjs";
import type { DcmjsDataSet } from "dcmjs";
import { RAREFORGE_VERSION } from "../../version.ts";
import { codeItem, dicomDate, dicomTime, el } from "./elements.ts";
import { DicomError } from "./errors.ts";
import { EXPLICIT_VR_LITTLE_ENDIAN } from "./transfer-syntax.ts";
import { generateUid, isValidUid, uidFromName } from "./uid.ts";
import { RAREFORGE_IMPLEMENTATION_CLASS_UID, RAREFORGE_IMPLEMENTATION_VERSION_NAME, type ImagePlaneGeometry } from "./write.ts";

export const SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4";

/**
 * Pixel coordinates, as in the JSON export: x = column, y = row, both continuous, with (0, 0) at the
 * top-left corner of the top-left pixel; pixel (row r, column c) covers [c, c+1) × [r, r+1) and its
 * centre is (c + 0.5, r + 0.5).
 */
export interface LesionCondition {
  /** Segment label, e.g. "glioma". */
  label: string;
  centre: { x: number; y: number };
  /** In pixels. */
  radius: number;
  /** What the lesion is (SNOMED CT by default: 52988006 "Lesion"), for the DICOM Segmentation. */
  propertyType?: { value: string; scheme: string; meaning: string };
}

export interface LesionGroundTruth {
  label: string;
  centre: { x: number; y: number };
  radius: number;
  /** The smallest pixel-aligned box holding every mask pixel; xMax and yMax are exclusive (pixel edges). */
  box: { xMin: number; yMin: number; xMax: number; yMax: number };
  /** COCO order: [x, y, width, height] of the same box. */
  bbox: [number, number, number, number];
  /** Number of mask pixels. */
  area: number;
  /** rows × columns, row-major, 1 inside the lesion (pixel centre within the radius), else 0. */
  mask: Uint8Array;
  propertyType: { value: string; scheme: string; meaning: string };
}

const LESION_CODE = { value: "52988006", scheme: "SCT", meaning: "Lesion" } as const;
const MORPHOLOGICALLY_ABNORMAL_STRUCTURE = { value: "49755003", scheme: "SCT", meaning: "Morphologically Abnormal Structure" } as const;

/** The lesion's mask and box, as the model was told to draw it: a disc of `radius` around `centre`. */
export function lesionGroundTruth(condition: LesionCondition, rows: number, columns: number): LesionGroundTruth {
  const { centre, radius } = condition;
  if (![centre.x, centre.y, radius].every(Number.isFinite) || radius <= 0) {
    throw new DicomError("INVALID_INPUT", `A lesion needs a finite centre and a positive radius, got centre (${centre.x}, ${centre.y}) radius ${radius}`);
  }
  const mask = new Uint8Array(rows * columns);
  let area = 0;
  let xMin = columns;
  let yMin = rows;
  let xMax = 0;
  let yMax = 0;
  const rowFrom = Math.max(0, Math.floor(centre.y - radius));
  const rowTo = Math.min(rows - 1, Math.ceil(centre.y + radius));
  const columnFrom = Math.max(0, Math.floor(centre.x - radius));
  const columnTo = Math.min(columns - 1, Math.ceil(centre.x + radius));
  for (let row = rowFrom; row <= rowTo; row++) {
    for (let column = columnFrom; column <= columnTo; column++) {
      if ((column + 0.5 - centre.x) ** 2 + (row + 0.5 - centre.y) ** 2 <= radius * radius) {
        mask[row * columns + column] = 1;
        area++;
        xMin = Math.min(xMin, column);
        yMin = Math.min(yMin, row);
        xMax = Math.max(xMax, column + 1);
        yMax = Math.max(yMax, row + 1);
      }
    }
  }
  if (area === 0) {
    throw new DicomError("INVALID_INPUT", `Lesion "${condition.label}" at (${centre.x}, ${centre.y}) with radius ${radius} covers no pixel of the ${columns}×${rows} image`);
  }
  return {
    label: condition.label,
    centre: { ...centre },
    radius,
    box: { xMin, yMin, xMax, yMax },
    bbox: [xMin, yMin, xMax - xMin, yMax - yMin],
    area,
    mask,
    propertyType: condition.propertyType ?? LESION_CODE,
  };
}

export interface GroundTruthImageReference {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  rows: number;
  columns: number;
  /** The DICOM file's name beside the JSON, if the exporter names files. */
  file?: string;
}

/** The JSON written next to the DICOM file: boxes and masks in pixel coordinates (masks as row runs). */
export interface LesionGroundTruthDocument {
  format: "rareforge.lesion-ground-truth";
  version: 1;
  coordinateSystem: string;
  image: GroundTruthImageReference;
  lesions: {
    label: string;
    centre: { x: number; y: number };
    radius: number;
    box: LesionGroundTruth["box"];
    bbox: LesionGroundTruth["bbox"];
    area: number;
    /** Each run is [row, firstColumn, endColumnExclusive]: compact and readable without a decoder. */
    maskRuns: [number, number, number][];
  }[];
}

export function groundTruthDocument(image: GroundTruthImageReference, lesions: LesionGroundTruth[]): LesionGroundTruthDocument {
  return {
    format: "rareforge.lesion-ground-truth",
    version: 1,
    coordinateSystem: "pixels; x = column, y = row; (0,0) is the top-left corner of the top-left pixel; box xMax/yMax exclusive",
    image,
    lesions: lesions.map((lesion) => ({
      label: lesion.label,
      centre: lesion.centre,
      radius: lesion.radius,
      box: lesion.box,
      bbox: lesion.bbox,
      area: lesion.area,
      maskRuns: maskRuns(lesion.mask, image.rows, image.columns),
    })),
  };
}

export function maskRuns(mask: Uint8Array, rows: number, columns: number): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (let row = 0; row < rows; row++) {
    let start = -1;
    for (let column = 0; column <= columns; column++) {
      const inside = column < columns && mask[row * columns + column] === 1;
      if (inside && start < 0) start = column;
      if (!inside && start >= 0) {
        runs.push([row, start, column]);
        start = -1;
      }
    }
  }
  return runs;
}

/** Rebuilds a mask from its row runs (for consumers of the JSON, and to prove the encoding is lossless). */
export function maskFromRuns(runs: [number, number, number][], rows: number, columns: number): Uint8Array {
  const mask = new Uint8Array(rows * columns);
  for (const [row, from, to] of runs) mask.fill(1, row * columns + from, row * columns + to);
  return mask;
}

export interface LesionSegmentationInput {
  /** The synthetic image the lesions were drawn into. */
  image: GroundTruthImageReference & { geometry?: ImagePlaneGeometry; patientName?: string; patientId?: string };
  lesions: LesionGroundTruth[];
  /** The segmentation's own series (one per job, like the images'). */
  seriesUid: string;
  instanceNumber: number;
  sopInstanceUid?: string;
  createdAt?: Date;
}

/**
 * A DICOM Segmentation (PS3.3 A.51), BINARY, one frame per lesion, referencing the synthetic image.
 * Assembled here and written with dcmjs's Part 10 writer (DicomDict). dcmjs's `derivations.Segmentation`
 * helper starts from the naturalized data sets of the source images; the generation worker holds the
 * image's UIDs and geometry rather than a parsed source data set, and every attribute the IOD needs is
 * set explicitly here, so the output is checked against dciodvfy attribute by attribute.
 */
export function writeLesionSegmentation(input: LesionSegmentationInput): Uint8Array {
  const { image, lesions } = input;
  if (lesions.length === 0) throw new DicomError("INVALID_INPUT", "A segmentation needs at least one lesion");
  for (const [name, uid] of [["image.studyUid", image.studyUid], ["image.seriesUid", image.seriesUid], ["image.sopInstanceUid", image.sopInstanceUid], ["image.sopClassUid", image.sopClassUid], ["seriesUid", input.seriesUid]] as const) {
    if (!isValidUid(uid)) throw new DicomError("INVALID_INPUT", `${name} is not a valid UID: "${uid}"`);
  }
  for (const lesion of lesions) {
    if (lesion.mask.length !== image.rows * image.columns) {
      throw new DicomError("INVALID_INPUT", `The mask of "${lesion.label}" has ${lesion.mask.length} pixels; the image has ${image.rows}×${image.columns}`);
    }
  }
  const sopInstanceUid = input.sopInstanceUid ?? generateUid();
  const createdAt = input.createdAt ?? new Date();
  // Derived from the instance UID when one is given, so a segmentation written twice is the same bytes.
  const dimensionOrganizationUid = input.sopInstanceUid ? uidFromName(`${input.sopInstanceUid}:dimension-organization`) : generateUid();
  const geometry = image.geometry;
  const sourceImage = {
    "00081150": el.text("UI", image.sopClassUid),
    "00081155": el.text("UI", image.sopInstanceUid),
  };

  const sharedGroup: DcmjsDataSet = geometry
    ? {
        "00289110": el.seq([{ "00280030": el.ds(...geometry.pixelSpacing), "00180050": el.ds(geometry.sliceThickness) }]),
        "00209116": el.seq([{ "00200037": el.ds(...geometry.imageOrientationPatient) }]),
      }
    : {};
  const perFrameGroups: DcmjsDataSet[] = lesions.map((_, index) => ({
    "00089124": el.seq([
      {
        "00082112": el.seq([{ ...sourceImage, "0040A170": el.seq([codeItem("121322", "DCM", "Source image for image processing operation")]) }]),
        "00089215": el.seq([codeItem("113076", "DCM", "Segmentation")]),
      },
    ]),
    "00209111": el.seq([{ "00209157": { vr: "UL", Value: [index + 1] } }]),
    ...(geometry ? { "00209113": el.seq([{ "00200032": el.ds(...geometry.imagePositionPatient) }]) } : {}),
    "0062000A": el.seq([{ "0062000B": el.us(index + 1) }]),
  }));

  const dataSet: DcmjsDataSet = {
    "00080005": el.text("CS", "ISO_IR 192"),
    "00080008": el.texts("CS", ["DERIVED", "PRIMARY"]),
    "00080012": el.text("DA", dicomDate(createdAt)),
    "00080013": el.text("TM", dicomTime(createdAt)),
    "00080016": el.text("UI", SEGMENTATION_STORAGE),
    "00080018": el.text("UI", sopInstanceUid),
    "0008001C": el.text("CS", "YES"),
    // Patient and General Study: the image's.
    "00100010": el.pn(image.patientName ?? "SYNTHETIC^RAREFORGE"),
    "00100020": el.text("LO", image.patientId ?? "RAREFORGE-SYNTHETIC"),
    "00100030": el.empty("DA"),
    "00100040": el.empty("CS"),
    "0020000D": el.text("UI", image.studyUid),
    "00080020": el.text("DA", dicomDate(createdAt)),
    "00080030": el.text("TM", dicomTime(createdAt)),
    "00080090": el.empty("PN"),
    "00200010": el.text("SH", "RAREFORGE"),
    "00080050": el.empty("SH"),
    // General Series + Segmentation Series
    "00080060": el.text("CS", "SEG"),
    "0020000E": el.text("UI", input.seriesUid),
    "00200011": el.is(1),
    "0008103E": el.text("LO", "RareForge lesion ground truth"),
    // Enhanced General Equipment (C.7.5.2): all type 1.
    "00080070": el.text("LO", "RareForge"),
    "00081090": el.text("LO", "RareForge"),
    "00181000": el.text("LO", "RAREFORGE"),
    "00181020": el.text("LO", RAREFORGE_VERSION),
    // Segmentation Image (C.8.20.2) with the Content Identification macro
    "00200013": el.is(input.instanceNumber),
    "00700080": el.text("CS", "LESION"),
    "00700081": el.text("LO", "Lesion masks from the synthesis condition"),
    "00700084": el.empty("PN"),
    "00620001": el.text("CS", "BINARY"),
    "00620002": el.seq(
      lesions.map((lesion, index) => ({
        "00620004": el.us(index + 1),
        "00620005": el.text("LO", lesion.label.slice(0, 64)),
        "00620008": el.text("CS", "AUTOMATIC"),
        "00620009": el.text("LO", "RareForge synthesis condition"),
        "00620003": el.seq([codeItem(MORPHOLOGICALLY_ABNORMAL_STRUCTURE.value, MORPHOLOGICALLY_ABNORMAL_STRUCTURE.scheme, MORPHOLOGICALLY_ABNORMAL_STRUCTURE.meaning)]),
        "0062000F": el.seq([codeItem(lesion.propertyType.value, lesion.propertyType.scheme, lesion.propertyType.meaning)]),
      })),
    ),
    // Multi-frame Functional Groups (C.7.6.16)
    "52009229": el.seq([sharedGroup]),
    "52009230": el.seq(perFrameGroups),
    "00080023": el.text("DA", dicomDate(createdAt)),
    "00080033": el.text("TM", dicomTime(createdAt)),
    "00280008": el.is(lesions.length),
    // Multi-frame Dimension (C.7.6.17): frames are indexed by the segment they show.
    "00209221": el.seq([{ "00209164": el.text("UI", dimensionOrganizationUid) }]),
    "00209222": el.seq([
      {
        "00209164": el.text("UI", dimensionOrganizationUid),
        "00209165": { vr: "AT", Value: [0x0062000b] },
        "00209167": { vr: "AT", Value: [0x0062000a] },
        "00209421": el.text("LO", "Segment"),
      },
    ]),
    // Common Instance Reference (C.12.2)
    "00081115": el.seq([{ "0020000E": el.text("UI", image.seriesUid), "0008114A": el.seq([sourceImage]) }]),
    // Image Pixel: 1-bit binary frames (PS3.3 C.8.20.2.1)
    "00280002": el.us(1),
    "00280004": el.text("CS", "MONOCHROME2"),
    "00280010": el.us(image.rows),
    "00280011": el.us(image.columns),
    "00280100": el.us(1),
    "00280101": el.us(1),
    "00280102": el.us(0),
    "00280103": el.us(0),
    "00282110": el.text("CS", "00"),
    "7FE00010": { vr: "OB", Value: [packBits(lesions.map((lesion) => lesion.mask))] },
  };
  if (geometry) {
    Object.assign(dataSet, { "00200052": el.text("UI", geometry.frameOfReferenceUid), "00201040": el.empty("LO") });
  } else {
    // General Image: without a frame of reference, Patient Orientation (type 2C) must be present.
    dataSet["00200020"] = el.empty("CS");
  }

  const meta: DcmjsDataSet = {
    "00020001": { vr: "OB", Value: [new Uint8Array([0, 1]).buffer] },
    "00020002": el.text("UI", SEGMENTATION_STORAGE),
    "00020003": el.text("UI", sopInstanceUid),
    "00020010": el.text("UI", EXPLICIT_VR_LITTLE_ENDIAN),
    "00020012": el.text("UI", RAREFORGE_IMPLEMENTATION_CLASS_UID),
    "00020013": el.text("SH", RAREFORGE_IMPLEMENTATION_VERSION_NAME),
  };
  const file = new dcmjs.data.DicomDict(meta);
  file.dict = dataSet;
  return new Uint8Array(file.write());
}

/** Frames one after another, 8 pixels a byte, first pixel in the least significant bit (PS3.5 8.1.1), padded to even length. */
function packBits(frames: Uint8Array[]): ArrayBuffer {
  const total = frames.reduce((sum, frame) => sum + frame.length, 0);
  const bytes = new Uint8Array(Math.ceil(Math.ceil(total / 8) / 2) * 2);
  let bit = 0;
  for (const frame of frames) {
    for (const value of frame) {
      if (value) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (1 << (bit & 7));
      bit++;
    }
  }
  return bytes.buffer;
}
