import dcmjs from "dcmjs";
import type { DcmjsDataSet } from "dcmjs";
import { RAREFORGE_VERSION } from "../../version.ts";
import { codeItem, dicomDate, dicomDateTime, dicomTime, el } from "./elements.ts";
import { DicomError } from "./errors.ts";
import { EXPLICIT_VR_LITTLE_ENDIAN } from "./transfer-syntax.ts";
import { generateUid, isValidUid, uidFromName } from "./uid.ts";

export const MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4";
export const SECONDARY_CAPTURE_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7";

/** Identifies the writing software in every file's meta information (PS3.7 D.3.3.2). */
export const RAREFORGE_IMPLEMENTATION_CLASS_UID = uidFromName("RareForge DICOM implementation");
export const RAREFORGE_IMPLEMENTATION_VERSION_NAME = `RAREFORGE_${RAREFORGE_VERSION}`.slice(0, 16);

/**
 * The private block that carries the full provenance record (PS3.5 7.8): creator "RAREFORGE" reserves
 * elements (0009,10xx); (0009,1001) holds the record as JSON text (UT, unlimited length).
 */
export const PROVENANCE_PRIVATE_CREATOR = "RAREFORGE";
export const PROVENANCE_PRIVATE_CREATOR_TAG = "00090010";
export const PROVENANCE_RECORD_TAG = "00091001";

/** Purpose of Reference (CID 7005) for the equipment that synthesised the image. */
export const SYNTHESIZING_EQUIPMENT_CODE = { value: "109100", scheme: "DCM", meaning: "Synthesizing Equipment" } as const;

export interface ImagePlaneGeometry {
  /** Row spacing then column spacing, in mm (0028,0030). */
  pixelSpacing: [number, number];
  sliceThickness: number;
  imagePositionPatient: [number, number, number];
  imageOrientationPatient: [number, number, number, number, number, number];
  frameOfReferenceUid: string;
}

export interface SyntheticDicomInput {
  /** Stored values, row-major, rows × columns; written as 16-bit unsigned MONOCHROME2. */
  pixels: Uint16Array;
  rows: number;
  columns: number;
  /** From the model manifest, e.g. "MR". */
  modality: string;
  windowCenter: number;
  windowWidth: number;
  /** One per generation job. */
  studyUid: string;
  /** One per generation job (a job is one series). */
  seriesUid: string;
  instanceNumber: number;
  /** The sample's provenance record (model, sampler, seed, versions…); stored whole as JSON. */
  provenance: Record<string, unknown>;
  /** The reference scan this sample was made from (image-to-image, inpainting). */
  source?: { sopClassUid: string; sopInstanceUid: string };
  /** Fresh when omitted. */
  sopInstanceUid?: string;
  /**
   * "mr-image" needs `geometry` (the MR Image IOD requires the Image Plane module). By default MR with
   * geometry is written as an MR Image, anything else as Secondary Capture: a made-up patient position
   * would be worse than none.
   */
  iod?: "mr-image" | "secondary-capture";
  geometry?: ImagePlaneGeometry;
  /** e.g. the model's name and version, shown in Manufacturer's Model Name and the contribution description. */
  model?: { name: string; version: string };
  seriesNumber?: number;
  seriesDescription?: string;
  studyDescription?: string;
  /** (0020,0010), at most 16 characters; "RAREFORGE" by default. */
  studyId?: string;
  /** Defaults: "SYNTHETIC^RAREFORGE" and "RAREFORGE-SYNTHETIC" — never a real person. */
  patientName?: string;
  patientId?: string;
  /** When the sample was made; now by default. */
  createdAt?: Date;
}

const MAX_DERIVATION_DESCRIPTION = 1024; // ST, PS3.5 6.2

/** Writes one synthetic sample as a DICOM Part 10 file (Explicit VR Little Endian). */
export function writeSyntheticDicom(input: SyntheticDicomInput): Uint8Array {
  validate(input);
  const iod = input.iod ?? (input.modality === "MR" && input.geometry ? "mr-image" : "secondary-capture");
  const sopClassUid = iod === "mr-image" ? MR_IMAGE_STORAGE : SECONDARY_CAPTURE_IMAGE_STORAGE;
  const sopInstanceUid = input.sopInstanceUid ?? generateUid();
  const createdAt = input.createdAt ?? new Date();
  const modelLabel = input.model ? `${input.model.name} ${input.model.version}` : undefined;

  const dataSet: DcmjsDataSet = {
    // SOP Common (PS3.3 C.12.1); UTF-8 so the provenance text may hold any character.
    "00080005": el.text("CS", "ISO_IR 192"),
    "00080012": el.text("DA", dicomDate(createdAt)),
    "00080013": el.text("TM", dicomTime(createdAt)),
    "00080016": el.text("UI", sopClassUid),
    "00080018": el.text("UI", sopInstanceUid),
    "0018A001": el.seq([contributingEquipment(createdAt, modelLabel)]),
    // Patient (C.7.1.1): type 2 attributes present; the "patient" is RareForge's synthetic stand-in.
    "00100010": el.pn(input.patientName ?? "SYNTHETIC^RAREFORGE"),
    "00100020": el.text("LO", input.patientId ?? "RAREFORGE-SYNTHETIC"),
    "00100030": el.empty("DA"),
    "00100040": el.empty("CS"),
    // General Study (C.7.2.1)
    "0020000D": el.text("UI", input.studyUid),
    "00080020": el.text("DA", dicomDate(createdAt)),
    "00080030": el.text("TM", dicomTime(createdAt)),
    "00080090": el.empty("PN"),
    // Study ID (type 2) is what DICOMDIR builders index; the job's study is RareForge's.
    "00200010": el.text("SH", (input.studyId ?? "RAREFORGE").slice(0, 16)),
    "00080050": el.empty("SH"),
    ...(input.studyDescription ? { "00081030": el.text("LO", input.studyDescription) } : {}),
    // General Series (C.7.3.1)
    "00080060": el.text("CS", input.modality),
    "0020000E": el.text("UI", input.seriesUid),
    "00200011": el.is(input.seriesNumber ?? 1),
    // Laterality is type 2C (paired body parts); a synthetic slice has none to state, so it is present and empty.
    "00200060": el.empty("CS"),
    ...(input.seriesDescription ? { "0008103E": el.text("LO", input.seriesDescription) } : {}),
    // General Equipment (C.7.5.1)
    "00080070": el.text("LO", "RareForge"),
    "00181020": el.text("LO", RAREFORGE_VERSION),
    ...(input.model ? { "00081090": el.text("LO", input.model.name.slice(0, 64)) } : {}),
    // General Image (C.7.6.1)
    "00200013": el.is(input.instanceNumber),
    "00080008": el.texts("CS", iod === "mr-image" ? ["DERIVED", "SECONDARY", "OTHER"] : ["DERIVED", "SECONDARY"]),
    "00080023": el.text("DA", dicomDate(createdAt)),
    "00080033": el.text("TM", dicomTime(createdAt)),
    "00282110": el.text("CS", "00"),
    "00280301": el.text("CS", "NO"),
    // (0008,001C) Synthetic Data: the image is not an acquisition of a real patient.
    "0008001C": el.text("CS", "YES"),
    "00082111": el.text("ST", derivationDescription(input.provenance, modelLabel)),
    ...(input.source ? { "00082112": el.seq([sourceImageItem(input.source)]) } : {}),
    // Image Pixel (C.7.6.3): 16-bit unsigned grey
    "00280002": el.us(1),
    "00280004": el.text("CS", "MONOCHROME2"),
    "00280010": el.us(input.rows),
    "00280011": el.us(input.columns),
    "00280100": el.us(16),
    "00280101": el.us(16),
    "00280102": el.us(15),
    "00280103": el.us(0),
    // VOI LUT (C.11.2)
    "00281050": el.ds(input.windowCenter),
    "00281051": el.ds(input.windowWidth),
    // Private block with the full provenance record
    [PROVENANCE_PRIVATE_CREATOR_TAG]: el.text("LO", PROVENANCE_PRIVATE_CREATOR),
    [PROVENANCE_RECORD_TAG]: el.text("UT", JSON.stringify(input.provenance)),
    "7FE00010": { vr: "OW", Value: [littleEndianBuffer(input.pixels)] },
  };

  if (iod === "mr-image") Object.assign(dataSet, mrImageModules(input.geometry as ImagePlaneGeometry));
  else Object.assign(dataSet, secondaryCaptureModules());

  const meta: DcmjsDataSet = {
    "00020001": { vr: "OB", Value: [new Uint8Array([0, 1]).buffer] },
    "00020002": el.text("UI", sopClassUid),
    "00020003": el.text("UI", sopInstanceUid),
    "00020010": el.text("UI", EXPLICIT_VR_LITTLE_ENDIAN),
    "00020012": el.text("UI", RAREFORGE_IMPLEMENTATION_CLASS_UID),
    "00020013": el.text("SH", RAREFORGE_IMPLEMENTATION_VERSION_NAME),
  };
  const file = new dcmjs.data.DicomDict(meta);
  file.dict = dataSet;
  return new Uint8Array(file.write());
}

function mrImageModules(geometry: ImagePlaneGeometry): DcmjsDataSet {
  return {
    // General Series: Patient Position is type 2C for MR; unknown for a synthetic slice.
    "00185100": el.empty("CS"),
    // Frame of Reference (C.7.4.1)
    "00200052": el.text("UI", geometry.frameOfReferenceUid),
    "00201040": el.empty("LO"),
    // Image Plane (C.7.6.2)
    "00280030": el.ds(...geometry.pixelSpacing),
    "00180050": el.ds(geometry.sliceThickness),
    "00200032": el.ds(...geometry.imagePositionPatient),
    "00200037": el.ds(...geometry.imageOrientationPatient),
    // MR Image (C.8.3.1): "RM" (research mode) is the Scanning Sequence term for a non-standard
    // acquisition; a synthetic image has no real TR/TE, so the type 2 timings stay empty.
    "00180020": el.text("CS", "RM"),
    "00180021": el.text("CS", "NONE"),
    "00180022": el.empty("CS"),
    "00180023": el.text("CS", "2D"),
    "00180080": el.empty("DS"),
    "00180081": el.empty("DS"),
    "00180091": el.empty("IS"),
  };
}

function secondaryCaptureModules(): DcmjsDataSet {
  return {
    // General Image: Patient Orientation is type 2C when there is no Image Plane module.
    "00200020": el.empty("CS"),
    // SC Equipment (C.8.6.1): "SYN" = synthetic image.
    "00080064": el.text("CS", "SYN"),
  };
}

function contributingEquipment(createdAt: Date, modelLabel: string | undefined): DcmjsDataSet {
  return {
    "0040A170": el.seq([codeItem(SYNTHESIZING_EQUIPMENT_CODE.value, SYNTHESIZING_EQUIPMENT_CODE.scheme, SYNTHESIZING_EQUIPMENT_CODE.meaning)]),
    "00080070": el.text("LO", "RareForge"),
    "00081090": el.text("LO", "RareForge"),
    "00181020": el.text("LO", RAREFORGE_VERSION),
    "0018A002": el.text("DT", dicomDateTime(createdAt)),
    "0018A003": el.text("ST", `Synthesized by RareForge ${RAREFORGE_VERSION}${modelLabel ? ` with model ${modelLabel}` : ""}`),
  };
}

function sourceImageItem(source: { sopClassUid: string; sopInstanceUid: string }): DcmjsDataSet {
  return {
    "00081150": el.text("UI", source.sopClassUid),
    "00081155": el.text("UI", source.sopInstanceUid),
    // CID 7202: the reference scan is the input of the synthesis.
    "0040A170": el.seq([codeItem("121322", "DCM", "Source image for image processing operation")]),
  };
}

/** The human-readable provenance (ST, at most 1024 bytes); the private block keeps the whole record. */
function derivationDescription(provenance: Record<string, unknown>, modelLabel: string | undefined): string {
  const head = `Synthetic image generated by RareForge ${RAREFORGE_VERSION}${modelLabel ? ` (model ${modelLabel})` : ""}; full provenance record (JSON) in private tag (0009,1001) of creator ${PROVENANCE_PRIVATE_CREATOR}. Provenance: `;
  // ST is single-valued, so backslashes (JSON escapes) are legal here and kept.
  const record = JSON.stringify(provenance);
  const text = head + record;
  // The limit is in bytes of the encoded value (UTF-8 here), not in characters.
  if (Buffer.byteLength(text, "utf8") <= MAX_DERIVATION_DESCRIPTION) return text;
  let cut = text.slice(0, MAX_DERIVATION_DESCRIPTION - 3);
  while (Buffer.byteLength(cut, "utf8") > MAX_DERIVATION_DESCRIPTION - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

function littleEndianBuffer(pixels: Uint16Array): ArrayBuffer {
  const bytes = new ArrayBuffer(pixels.length * 2);
  const view = new DataView(bytes);
  for (let i = 0; i < pixels.length; i++) view.setUint16(2 * i, pixels[i] ?? 0, true);
  return bytes;
}

function invalid(message: string): never {
  throw new DicomError("INVALID_INPUT", message);
}

function validate(input: SyntheticDicomInput): void {
  if (!(input.pixels instanceof Uint16Array)) invalid("pixels must be a Uint16Array of stored values");
  for (const [name, value] of [["rows", input.rows], ["columns", input.columns]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 65535) invalid(`${name} must be an integer in 1..65535, got ${value}`);
  }
  if (input.pixels.length !== input.rows * input.columns) invalid(`pixels has ${input.pixels.length} values; rows × columns = ${input.rows * input.columns}`);
  if (!/^[A-Z0-9_ ]{1,16}$/.test(input.modality)) invalid(`modality must be a DICOM defined term such as "MR" (CS, at most 16 upper-case characters), got "${input.modality}"`);
  if (!Number.isFinite(input.windowCenter)) invalid(`windowCenter must be finite, got ${input.windowCenter}`);
  if (!Number.isFinite(input.windowWidth) || input.windowWidth < 1) invalid(`windowWidth must be at least 1 (PS3.3 C.11.2.1.2), got ${input.windowWidth}`);
  if (!Number.isInteger(input.instanceNumber) || input.instanceNumber < 0) invalid(`instanceNumber must be a non-negative integer, got ${input.instanceNumber}`);
  const uids: [string, string | undefined][] = [
    ["studyUid", input.studyUid],
    ["seriesUid", input.seriesUid],
    ["sopInstanceUid", input.sopInstanceUid],
    ["source.sopClassUid", input.source?.sopClassUid],
    ["source.sopInstanceUid", input.source?.sopInstanceUid],
    ["geometry.frameOfReferenceUid", input.geometry?.frameOfReferenceUid],
  ];
  for (const [name, uid] of uids) {
    if (uid !== undefined && !isValidUid(uid)) invalid(`${name} is not a valid UID (digits and dots, at most 64 characters): "${uid}"`);
  }
  if (input.iod === "mr-image" && !input.geometry) invalid('iod "mr-image" needs geometry: the MR Image IOD requires pixel spacing, position, orientation and slice thickness');
  if (typeof input.provenance !== "object" || input.provenance === null) invalid("provenance must be an object");
}
