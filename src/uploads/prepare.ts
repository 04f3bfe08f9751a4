// An uploaded reference scan -> the bytes that may be stored. Everything here happens in memory: the
// uploaded bytes are sniffed, checked by the readers and, for DICOM, de-identified (PS3.15 Basic
// Application Level Confidentiality Profile) before anything is written anywhere. The original bytes are
// never returned, stored or written to a temporary file.
import { createHmac } from "node:crypto";
import { convertIndexedToRgb, decode as decodePng, encode as encodePng, hasPngSignature } from "fast-png";
import { decodeImage, ImageDecodeError } from "../imaging/index.ts";
import { deidentifyDicom, isDicomError, readDicom, uidFromName, type DeidentificationReport, type DicomError } from "../imaging/dicom/index.ts";
import { UploadRefusedError } from "./errors.ts";

export type ReferenceScanKind = "DICOM" | "PNG" | "JPEG";

export interface PreparedScan {
  kind: ReferenceScanKind;
  /** What may be stored: de-identified DICOM, or the image without its metadata chunks/segments. */
  bytes: Uint8Array;
  mediaType: string;
  rows: number;
  columns: number;
  modality: string | null;
  /** The UIDs after de-identification (DICOM only). */
  uids: { study: string | null; series: string | null; sopInstance: string | null; sopClass: string | null } | null;
  transferSyntaxUid: string | null;
  deidentification: DeidentificationReport | null;
}

export interface PrepareOptions {
  maxBytes: number;
  /** Largest PNG/JPEG width × height, read from the header before decoding (RAREFORGE_MAX_IMAGE_PIXELS). */
  maxImagePixels: number;
  /**
   * Secret key for the replacement UIDs and patient pseudonyms: the same original UID (or patient) always
   * gets the same replacement, so slices of one study uploaded separately stay one study, while the
   * original cannot be recovered from the replacement without the key.
   */
  key: Uint8Array;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** A Map whose missing entries are derived with the key (deidentifyDicom asks it before making a UID). */
class KeyedUidMap extends Map<string, string> {
  constructor(private readonly key: Uint8Array) {
    super();
  }
  override get(original: string): string {
    return super.get(original) ?? uidFromName(`rareforge:deidentified-uid:${createHmac("sha256", this.key).update(original).digest("hex")}`);
  }
}

const dicomRefusal = (error: DicomError) =>
  new UploadRefusedError("DICOM_REFUSED", `DICOM file refused (${error.code}): ${error.message}`, error.code, error.details.transferSyntaxUid ?? null);

/** Sniffs the type by content, checks the size, and returns what may be stored. Throws UploadRefusedError. */
export async function prepareReferenceScan(bytes: Uint8Array, options: PrepareOptions): Promise<PreparedScan> {
  if (bytes.byteLength === 0) throw new UploadRefusedError("EMPTY", "the uploaded file is empty");
  if (bytes.byteLength > options.maxBytes) {
    throw new UploadRefusedError("TOO_LARGE", `the uploaded file has ${bytes.byteLength} bytes; the limit is ${options.maxBytes} (RAREFORGE_MAX_UPLOAD_BYTES)`);
  }
  if (hasPngSignature(bytes)) return preparePng(bytes, options.maxImagePixels);
  if (isJpeg(bytes)) return prepareJpeg(bytes, options.maxImagePixels);
  return prepareDicom(bytes, options.key, options.maxImagePixels);
}

async function prepareDicom(bytes: Uint8Array, key: Uint8Array, maxPixels: number): Promise<PreparedScan> {
  // 1. The whole file must read (pixels included) before it is accepted.
  let original;
  try {
    original = await readDicom(bytes, { maxPixels });
  } catch (error) {
    if (isDicomError(error) && error.code === "NOT_DICOM") {
      throw new UploadRefusedError("UNSUPPORTED_TYPE", `not a DICOM, PNG or JPEG file: ${error.message}`, error.code);
    }
    if (isDicomError(error)) throw dicomRefusal(error);
    throw error;
  }
  // 2. De-identify in memory; the patient pseudonym is keyed on the original patient, so it is stable.
  const patient = original.summary.patientId ?? original.summary.patientName ?? "";
  const pseudonym = `RF-${createHmac("sha256", key).update(`patient:${patient}`).digest("hex").slice(0, 16).toUpperCase()}`;
  let deidentified;
  try {
    deidentified = deidentifyDicom(bytes, { uidMap: new KeyedUidMap(key), patientPseudonym: pseudonym });
  } catch (error) {
    if (isDicomError(error)) throw dicomRefusal(error);
    throw error;
  }
  // 3. What is stored must read back.
  let stored;
  try {
    stored = await readDicom(deidentified.bytes);
  } catch (error) {
    if (isDicomError(error)) throw dicomRefusal(error);
    throw error;
  }
  const summary = stored.summary;
  return {
    kind: "DICOM",
    bytes: deidentified.bytes,
    mediaType: "application/dicom",
    rows: stored.rows,
    columns: stored.columns,
    modality: summary.modality ?? null,
    uids: {
      study: summary.studyInstanceUid ?? null,
      series: summary.seriesInstanceUid ?? null,
      sopInstance: summary.sopInstanceUid ?? null,
      sopClass: summary.sopClassUid ?? null,
    },
    transferSyntaxUid: stored.transferSyntax.uid,
    deidentification: deidentified.report,
  };
}

function imageRefusal(error: unknown): never {
  if (error instanceof ImageDecodeError) throw new UploadRefusedError("IMAGE_REFUSED", error.message);
  throw new UploadRefusedError("IMAGE_REFUSED", `image refused: ${(error as Error).message}`);
}

/** PNG: decoded and written again with pixels only, which drops text, EXIF and time chunks. */
function preparePng(bytes: Uint8Array, maxPixels: number): PreparedScan {
  let png: ReturnType<typeof decodePng>;
  try {
    decodeImage(bytes, "uploaded PNG", maxPixels);
    png = decodePng(bytes);
  } catch (error) {
    imageRefusal(error);
  }
  const data = png.palette ? convertIndexedToRgb(png) : png.data;
  const channels = png.palette ? (png.transparency ? 4 : 3) : png.channels;
  const depth = png.palette ? 8 : png.depth;
  const clean = encodePng({ width: png.width, height: png.height, data, channels, depth });
  return { kind: "PNG", bytes: clean, mediaType: "image/png", rows: png.height, columns: png.width, modality: null, uids: null, transferSyntaxUid: null, deidentification: null };
}

/**
 * JPEG: application segments that carry metadata (APP1 EXIF/XMP … APP13, APP15) and comments are cut out;
 * APP0 (JFIF) and APP14 (Adobe colour transform) stay because decoders need them. The entropy-coded
 * data is copied unchanged, so the image is not re-compressed.
 */
function prepareJpeg(bytes: Uint8Array, maxPixels: number): PreparedScan {
  let decoded;
  try {
    decoded = decodeImage(bytes, "uploaded JPEG", maxPixels);
  } catch (error) {
    imageRefusal(error);
  }
  const kept: Uint8Array[] = [bytes.subarray(0, 2)];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new UploadRefusedError("IMAGE_REFUSED", `damaged JPEG: no marker at byte ${offset}`);
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    const end = offset + 2 + length;
    if (length < 2 || end > bytes.length) throw new UploadRefusedError("IMAGE_REFUSED", `damaged JPEG: segment 0xFF${marker.toString(16).toUpperCase()} at byte ${offset} runs past the end`);
    if (marker === 0xda) {
      // Start of scan: the rest is image data (and later markers inside it), kept as it is.
      kept.push(bytes.subarray(offset));
      break;
    }
    const metadata = (marker >= 0xe1 && marker <= 0xed) || marker === 0xef || marker === 0xfe;
    if (!metadata) kept.push(bytes.subarray(offset, end));
    offset = end;
  }
  const clean = Buffer.concat(kept);
  return {
    kind: "JPEG",
    bytes: new Uint8Array(clean.buffer, clean.byteOffset, clean.byteLength),
    mediaType: "image/jpeg",
    rows: decoded.height,
    columns: decoded.width,
    modality: null,
    uids: null,
    transferSyntaxUid: null,
    deidentification: null,
  };
}
