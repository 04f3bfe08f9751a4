import { inflateRawSync } from "node:zlib";
import dicomParser from "dicom-parser";
import type { DataSet, Element } from "dicom-parser";
import { decodeFrame, jpegSamplePrecision, type CodecName } from "./codecs.ts";
import { DicomError } from "./errors.ts";
import { decodeRleFrame } from "./rle.ts";
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, describeTransferSyntax, lookupTransferSyntax } from "./transfer-syntax.ts";

export interface ReadDicomOptions {
  /** Zero-based frame of a multi-frame image; 0 by default. */
  frame?: number;
  /** Largest Rows × Columns decoded; a larger image is refused (TOO_LARGE) before its pixels are touched. */
  maxPixels?: number;
}

/** The identifying and descriptive attributes callers look at first; everything else stays in the file. */
export interface DicomSummary {
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  frameOfReferenceUid?: string;
  modality?: string;
  manufacturer?: string;
  patientName?: string;
  patientId?: string;
  studyDate?: string;
  seriesDescription?: string;
  instanceNumber?: number;
  imageType?: string[];
  /** (0008,001C) Synthetic Data, "YES" on everything RareForge writes. */
  syntheticData?: string;
  patientIdentityRemoved?: string;
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
}

export type PhotometricInterpretation = "MONOCHROME1" | "MONOCHROME2" | "RGB";

export interface DicomImage {
  summary: DicomSummary;
  transferSyntax: { uid: string; name: string };
  /** False for files with no preamble and file meta information (read as a bare data set). */
  hasFileMeta: boolean;
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  /** After decoding: YBR colour is converted to RGB, so only these three remain. */
  photometricInterpretation: PhotometricInterpretation;
  numberOfFrames: number;
  /** The frame these pixels belong to (zero-based). */
  frame: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  rescaleSlope: number;
  rescaleIntercept: number;
  windowCenter?: number;
  windowWidth?: number;
  /**
   * Modality values (stored value × Rescale Slope + Rescale Intercept), row-major, colour samples
   * interleaved (R,G,B per pixel). Int32Array when the rescale keeps integers, otherwise Float32Array.
   */
  pixels: Int32Array | Float32Array;
  /** Problems the reader tolerated (e.g. from dicom-parser), in words. */
  warnings: string[];
}

const PARSER_ERROR_TRUNCATION = /overrun|maxPosition|past the end|beyond|out of range|exceeds/i;

/**
 * Reads a DICOM file (Part 10, or a bare data set when the bytes allow) and decodes one frame's pixels.
 * Every failure is a DicomError; nothing else escapes.
 */
export async function readDicom(bytes: Uint8Array, options: ReadDicomOptions = {}): Promise<DicomImage> {
  try {
    return await readDicomUnguarded(bytes, options);
  } catch (thrown) {
    throw asDicomError(thrown);
  }
}

/**
 * dicom-parser reads element values lazily, so a cut or corrupted file can still throw from a value
 * accessor after parsing succeeded; such strays become DicomErrors with the parser's words in them.
 */
export function asDicomError(thrown: unknown): DicomError {
  if (thrown instanceof DicomError) return thrown;
  const message = parserMessage(thrown);
  if (/past (the )?end|overrun|maxPosition|beyond|out of (range|bounds)|Offset is outside/i.test(message)) {
    return new DicomError("TRUNCATED", `A value runs past the end of the data (${message})`, {}, { cause: thrown });
  }
  return new DicomError("INVALID_VALUE", `The data set is malformed: ${message}`, {}, { cause: thrown });
}

async function readDicomUnguarded(bytes: Uint8Array, options: ReadDicomOptions): Promise<DicomImage> {
  const { dataSet, hasFileMeta, transferSyntaxUid } = parse(bytes);
  const warnings = [...dataSet.warnings];
  const summary = summarise(dataSet);

  const transferSyntax = lookupTransferSyntax(transferSyntaxUid);
  if (!transferSyntax) {
    throw new DicomError("UNSUPPORTED_TRANSFER_SYNTAX", `Transfer syntax ${describeTransferSyntax(transferSyntaxUid)} is not one RareForge can read`, {
      transferSyntaxUid,
    });
  }

  const pixelElement = dataSet.elements.x7fe00010;
  if (!pixelElement) {
    const what = summary.sopClassUid ? ` (SOP Class ${summary.sopClassUid})` : "";
    throw new DicomError("NO_PIXEL_DATA", `The file has no Pixel Data (7FE0,0010)${what}: it is not an image`, { attribute: "(7FE0,0010) PixelData" });
  }

  const layout = pixelLayout(dataSet);
  if (options.maxPixels !== undefined && layout.rows * layout.columns > options.maxPixels) {
    throw new DicomError("TOO_LARGE", `The image is ${layout.columns}x${layout.rows} (${layout.rows * layout.columns} pixels); the limit is ${options.maxPixels} pixels`, { attribute: "(0028,0010) Rows" });
  }
  const frame = options.frame ?? 0;
  if (!Number.isInteger(frame) || frame < 0 || frame >= layout.numberOfFrames) {
    throw new DicomError("FRAME_OUT_OF_RANGE", `Frame ${frame} was asked for; the image has ${layout.numberOfFrames} frame(s) (0..${layout.numberOfFrames - 1})`);
  }

  let stored: Int32Array;
  let photometric = layout.photometricInterpretation;
  let planarConfiguration = layout.planarConfiguration;
  if (transferSyntax.pixelEncoding === "native") {
    if (photometric === "YBR_FULL_422" || photometric === "YBR_RCT" || photometric === "YBR_ICT") {
      // 4:2:2 subsampling in native pixel data, and the JPEG 2000 colour transforms outside JPEG 2000, are not read.
      throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", `Photometric Interpretation ${photometric} in native (uncompressed) pixel data is not supported`, { attribute: "(0028,0004) PhotometricInterpretation" });
    }
    stored = readNativeFrame(dataSet, pixelElement, layout, frame, transferSyntax.littleEndian);
  } else {
    const encoded = encapsulatedFrame(dataSet, pixelElement, layout.numberOfFrames, frame, transferSyntaxUid);
    const decoded = await decodeEncapsulated(transferSyntax.pixelEncoding, encoded, layout, transferSyntaxUid, transferSyntax.name);
    stored = decoded.stored;
    // RLE keeps the file's photometric interpretation and is always "by plane" per segment, which the
    // decoder already interleaves; the image codecs return RGB for colour (their own colour transform).
    planarConfiguration = 0;
    if (decoded.colourIsRgb && layout.samplesPerPixel === 3) photometric = "RGB";
  }

  if (layout.samplesPerPixel === 3) {
    if (planarConfiguration === 1) stored = interleavePlanes(stored, layout.rows * layout.columns);
    if (photometric === "YBR_FULL" || photometric === "YBR_FULL_422") stored = ybrFullToRgb(stored);
    photometric = "RGB";
  }

  const rescaleSlope = layout.samplesPerPixel === 1 ? (dataSet.floatString("x00281053") ?? 1) : 1;
  const rescaleIntercept = layout.samplesPerPixel === 1 ? (dataSet.floatString("x00281052") ?? 0) : 0;
  const pixels = toModalityValues(stored, rescaleSlope, rescaleIntercept);

  const windowCenter = dataSet.floatString("x00281050");
  const windowWidth = dataSet.floatString("x00281051");
  return {
    summary,
    transferSyntax: { uid: transferSyntax.uid, name: transferSyntax.name },
    hasFileMeta,
    rows: layout.rows,
    columns: layout.columns,
    samplesPerPixel: layout.samplesPerPixel,
    photometricInterpretation: photometric as PhotometricInterpretation,
    numberOfFrames: layout.numberOfFrames,
    frame,
    bitsAllocated: layout.bitsAllocated,
    bitsStored: layout.bitsStored,
    pixelRepresentation: layout.pixelRepresentation,
    rescaleSlope,
    rescaleIntercept,
    ...(windowCenter !== undefined && Number.isFinite(windowCenter) ? { windowCenter } : {}),
    ...(windowWidth !== undefined && Number.isFinite(windowWidth) ? { windowWidth } : {}),
    pixels,
    warnings,
  };
}

/**
 * The provenance record RareForge stored in its private block (creator "RAREFORGE", element xx01 of
 * group 0009), or undefined for a file without one (any file RareForge did not write, or one that
 * was de-identified since). Read as raw UTF-8: UT is single-valued, and JSON's backslash escapes must
 * not be split as if they were value separators (dcmjs's reader does that).
 */
export function readProvenanceRecord(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const { dataSet } = parse(bytes);
    for (let block = 0x10; block <= 0xff; block++) {
      const creatorTag = `x000900${block.toString(16).padStart(2, "0")}`;
      if (dataSet.string(creatorTag)?.trim() !== "RAREFORGE") continue;
      const element = dataSet.elements[`x0009${block.toString(16).padStart(2, "0")}01`];
      if (!element) return undefined;
      const text = new TextDecoder("utf-8").decode(dataSet.byteArray.subarray(element.dataOffset, element.dataOffset + element.length)).replace(/[\0 ]+$/, "");
      const record: unknown = JSON.parse(text);
      if (!record || typeof record !== "object" || Array.isArray(record)) {
        throw new DicomError("INVALID_VALUE", "The RareForge provenance block (0009,xx01) does not hold a JSON object", { attribute: "(0009,xx01) RareForge provenance record" });
      }
      return record as Record<string, unknown>;
    }
    return undefined;
  } catch (thrown) {
    if (thrown instanceof SyntaxError) {
      throw new DicomError("INVALID_VALUE", `The RareForge provenance block (0009,xx01) is not valid JSON: ${thrown.message}`, { attribute: "(0009,xx01) RareForge provenance record" }, { cause: thrown });
    }
    throw asDicomError(thrown);
  }
}

// ---------------------------------------------------------------------------------------------------
// Parsing

interface Parsed {
  dataSet: DataSet;
  hasFileMeta: boolean;
  transferSyntaxUid: string;
}

/** Parses the data set; maps dicom-parser's thrown strings and objects onto DicomError codes. */
export function parse(bytes: Uint8Array): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new DicomError("INVALID_INPUT", "readDicom expects the file's bytes as a Uint8Array");
  if (bytes.length === 0) throw new DicomError("NOT_DICOM", "The file is empty");

  const hasPart10Prefix = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  if (hasPart10Prefix) {
    const metaEnd = metaHeaderWithoutTransferSyntax(bytes);
    if (metaEnd !== null) return parseAfterMetaWithoutTransferSyntax(bytes, metaEnd);
    const dataSet = parseOrExplain(bytes, {});
    const transferSyntaxUid = dataSet.string("x00020010");
    if (!transferSyntaxUid) throw new DicomError("MISSING_ATTRIBUTE", "The file meta information has no Transfer Syntax UID (0002,0010)", { attribute: "(0002,0010) TransferSyntaxUID" });
    requireCompleteElements(dataSet);
    return { dataSet, hasFileMeta: true, transferSyntaxUid };
  }

  // No preamble and "DICM": read it as a bare data set if its first element looks like one.
  const guessed = guessBareTransferSyntax(bytes);
  if (!guessed) {
    const head = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join(" ");
    throw new DicomError(
      "NOT_DICOM",
      `Not a DICOM file: no "DICM" prefix at byte 128, and the first bytes (${head}) do not start a data element of group 0008 in either little-endian encoding`,
    );
  }
  const dataSet = parseOrExplain(bytes, { TransferSyntaxUID: guessed });
  requireCompleteElements(dataSet);
  return { dataSet, hasFileMeta: false, transferSyntaxUid: guessed };
}

/**
 * Where the file meta information (group 0002, always Explicit VR Little Endian, PS3.10 7.1) ends, when it
 * lacks its Transfer Syntax UID; null when the meta header has one or cannot be read (parsing then reports).
 */
function metaHeaderWithoutTransferSyntax(bytes: Uint8Array): number | null {
  let meta: DataSet;
  try {
    meta = dicomParser.readPart10Header(bytes);
  } catch {
    return null;
  }
  if (meta.elements.x00020010) return null;
  return Math.max(132, ...Object.values(meta.elements).map((element) => element.dataOffset + element.length));
}

/**
 * A meta header without (0002,0010): the data set after it says its own encoding where its first element
 * reads as one in exactly one little-endian encoding (explicit: two VR letters after the tag; implicit: a
 * length that fits). Otherwise the missing attribute is the accurate refusal, not "not DICOM".
 */
function parseAfterMetaWithoutTransferSyntax(bytes: Uint8Array, metaEnd: number): Parsed {
  const rest = bytes.subarray(metaEnd);
  const inferred = inferLittleEndianSyntax(rest);
  if (!inferred) {
    throw new DicomError(
      "MISSING_ATTRIBUTE",
      "The file meta information has no Transfer Syntax UID (0002,0010), and the data set after it does not show its encoding (its first element reads as neither explicit nor implicit VR little endian)",
      { attribute: "(0002,0010) TransferSyntaxUID" },
    );
  }
  const dataSet = parseOrExplain(rest, { TransferSyntaxUID: inferred });
  requireCompleteElements(dataSet);
  return { dataSet, hasFileMeta: false, transferSyntaxUid: inferred };
}

function inferLittleEndianSyntax(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8) return undefined;
  // the first element of a data set is in a low group (0008 mostly); read little endian, a big-endian
  // file's group would show its bytes swapped (0800)
  const group = (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8);
  if (group < 0x0004 || group > 0x00ff) return undefined;
  const vr = String.fromCharCode(bytes[4] ?? 0, bytes[5] ?? 0);
  if (VALID_VRS.has(vr)) return EXPLICIT_VR_LITTLE_ENDIAN;
  const length = ((bytes[4] ?? 0) | ((bytes[5] ?? 0) << 8) | ((bytes[6] ?? 0) << 16)) + (bytes[7] ?? 0) * 0x1000000;
  return length <= bytes.length - 8 ? IMPLICIT_VR_LITTLE_ENDIAN : undefined;
}

/**
 * dicom-parser's implicit VR reader accepts an element whose declared length runs past the end of the
 * bytes (it stops quietly); such a file is cut short, and is refused here rather than half-read.
 */
function requireCompleteElements(dataSet: DataSet): void {
  for (const [tag, element] of Object.entries(dataSet.elements)) {
    const end = element.dataOffset + element.length;
    if (element.length >= 0 && end > dataSet.byteArray.length) {
      throw new DicomError(
        "TRUNCATED",
        `The file ends inside element ${formatTag(tag)}: its value needs ${element.length} bytes from offset ${element.dataOffset}, but the data ends at ${dataSet.byteArray.length}`,
        { attribute: formatTag(tag) },
      );
    }
    for (const item of element.items ?? []) if (item.dataSet) requireCompleteElements(item.dataSet);
  }
}

const VALID_VRS = new Set(["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"]);

/**
 * A bare data set (as written by some modalities and by DIMSE tools) usually starts with group 0008:
 * the Specific Character Set or Image Type. Explicit VR shows as two VR letters after the tag.
 */
function guessBareTransferSyntax(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8) return undefined;
  const group = (bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8);
  if (group !== 0x0008) return undefined;
  const vr = String.fromCharCode(bytes[4] ?? 0, bytes[5] ?? 0);
  if (VALID_VRS.has(vr)) return EXPLICIT_VR_LITTLE_ENDIAN;
  const length = ((bytes[4] ?? 0) | ((bytes[5] ?? 0) << 8) | ((bytes[6] ?? 0) << 16)) + (bytes[7] ?? 0) * 0x1000000;
  return length <= bytes.length - 8 ? IMPLICIT_VR_LITTLE_ENDIAN : undefined;
}

function inflateDeflatedDataSet(bytes: Uint8Array, position: number): Uint8Array {
  const inflated = inflateRawSync(bytes.subarray(position));
  const whole = new Uint8Array(position + inflated.length);
  whole.set(bytes.subarray(0, position), 0);
  whole.set(inflated, position);
  return whole;
}

function parseOrExplain(bytes: Uint8Array, options: { TransferSyntaxUID?: string }): DataSet {
  try {
    // dicom-parser types the inflater as returning void, but it uses the returned array.
    const inflater = inflateDeflatedDataSet as unknown as (arr: Uint8Array, position: number) => void;
    return dicomParser.parseDicom(bytes, { ...options, inflater });
  } catch (thrown) {
    const message = parserMessage(thrown);
    if (/inflat|incorrect header|invalid (block|stored|distance|code)|unexpected end of file/i.test(message)) {
      throw new DicomError("TRUNCATED", `The deflated data set cannot be inflated: ${message}`, {}, { cause: thrown });
    }
    if (PARSER_ERROR_TRUNCATION.test(message)) {
      const last = lastParsedElement(thrown);
      const where = last ? ` after element ${last}` : "";
      throw new DicomError("TRUNCATED", `The file ends before its last data element is complete${where} (${bytes.length} bytes; parser: ${message})`, {}, { cause: thrown });
    }
    if (/DICM prefix/.test(message)) throw new DicomError("NOT_DICOM", `Not a DICOM Part 10 file: ${message}`, {}, { cause: thrown });
    throw new DicomError("NOT_DICOM", `The data set cannot be parsed: ${message}`, {}, { cause: thrown });
  }
}

function parserMessage(thrown: unknown): string {
  if (typeof thrown === "string") return thrown;
  if (thrown instanceof Error) return thrown.message;
  if (thrown && typeof thrown === "object" && "exception" in thrown) return String((thrown as { exception: unknown }).exception);
  return String(thrown);
}

function lastParsedElement(thrown: unknown): string | undefined {
  if (!thrown || typeof thrown !== "object" || !("dataSet" in thrown)) return undefined;
  const dataSet = (thrown as { dataSet?: DataSet }).dataSet;
  const tags = dataSet ? Object.keys(dataSet.elements) : [];
  const tag = tags.at(-1);
  return tag ? formatTag(tag) : undefined;
}

/** "x7fe00010" -> "(7FE0,0010)". */
export function formatTag(tag: string): string {
  const hex = tag.replace(/^x/, "").toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4, 8)})`;
}

function summarise(dataSet: DataSet): DicomSummary {
  const summary: DicomSummary = {};
  const text = (tag: string): string | undefined => {
    const value = dataSet.string(tag);
    return value === undefined || value === "" ? undefined : value;
  };
  const assign = <K extends keyof DicomSummary>(key: K, value: DicomSummary[K] | undefined): void => {
    if (value !== undefined) summary[key] = value;
  };
  assign("sopClassUid", text("x00080016"));
  assign("sopInstanceUid", text("x00080018"));
  assign("studyInstanceUid", text("x0020000d"));
  assign("seriesInstanceUid", text("x0020000e"));
  assign("frameOfReferenceUid", text("x00200052"));
  assign("modality", text("x00080060"));
  assign("manufacturer", text("x00080070"));
  assign("patientName", text("x00100010"));
  assign("patientId", text("x00100020"));
  assign("studyDate", text("x00080020"));
  assign("seriesDescription", text("x0008103e"));
  assign("syntheticData", text("x0008001c"));
  assign("patientIdentityRemoved", text("x00120062"));
  const instanceNumber = text("x00200013");
  if (instanceNumber !== undefined && /^\s*[+-]?\d+\s*$/.test(instanceNumber)) summary.instanceNumber = Number(instanceNumber);
  const imageType = dataSet.elements.x00080008 ? dataSet.string("x00080008") : undefined;
  if (imageType !== undefined) summary.imageType = rawString(dataSet, "x00080008").split("\\").map((part) => part.trim());
  const numbers = (tag: string): number[] | undefined => {
    if (!dataSet.elements[tag]) return undefined;
    const values = rawString(dataSet, tag).split("\\").map((part) => Number(part.trim()));
    return values.every((value) => Number.isFinite(value)) ? values : undefined;
  };
  const spacing = numbers("x00280030");
  if (spacing?.length === 2) summary.pixelSpacing = spacing as [number, number];
  const thickness = numbers("x00180050");
  if (thickness?.length === 1 && thickness[0] !== undefined) summary.sliceThickness = thickness[0];
  const position = numbers("x00200032");
  if (position?.length === 3) summary.imagePositionPatient = position as [number, number, number];
  const orientation = numbers("x00200037");
  if (orientation?.length === 6) summary.imageOrientationPatient = orientation as DicomSummary["imageOrientationPatient"];
  return summary;
}

/** The element's whole value as text (dicom-parser's `string` returns only the first of several values). */
function rawString(dataSet: DataSet, tag: string): string {
  const element = dataSet.elements[tag];
  if (!element) return "";
  return dicomParser.readFixedString(dataSet.byteArray, element.dataOffset, element.length).replace(/[\0 ]+$/, "");
}

// ---------------------------------------------------------------------------------------------------
// Pixel layout (Image Pixel module, PS3.3 C.7.6.3)

interface PixelLayout {
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  photometricInterpretation: "MONOCHROME1" | "MONOCHROME2" | "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_RCT" | "YBR_ICT";
  planarConfiguration: 0 | 1;
  bitsAllocated: 1 | 8 | 16 | 32;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: 0 | 1;
  numberOfFrames: number;
}

const PHOTOMETRIC = new Set(["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"]);

function requireUint16(dataSet: DataSet, tag: string, name: string): number {
  const value = dataSet.uint16(tag);
  if (value === undefined) throw new DicomError("MISSING_ATTRIBUTE", `The image has no ${formatTag(tag)} ${name}`, { attribute: `${formatTag(tag)} ${name}` });
  return value;
}

function pixelLayout(dataSet: DataSet): PixelLayout {
  const rows = requireUint16(dataSet, "x00280010", "Rows");
  const columns = requireUint16(dataSet, "x00280011", "Columns");
  if (rows === 0 || columns === 0) throw new DicomError("INVALID_VALUE", `The image is ${rows}×${columns}: Rows and Columns must be positive`, { attribute: "(0028,0010) Rows" });
  const samplesPerPixel = dataSet.uint16("x00280002") ?? 1;
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", `Samples per Pixel (0028,0002) is ${samplesPerPixel}; RareForge reads 1 (grey) or 3 (colour)`, { attribute: "(0028,0002) SamplesPerPixel" });
  }
  const photometric = dataSet.string("x00280004")?.trim() ?? (samplesPerPixel === 1 ? "MONOCHROME2" : "RGB");
  if (!PHOTOMETRIC.has(photometric)) {
    throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", `Photometric Interpretation (0028,0004) ${photometric} is not supported (${[...PHOTOMETRIC].join(", ")})`, { attribute: "(0028,0004) PhotometricInterpretation" });
  }
  if ((samplesPerPixel === 1) !== photometric.startsWith("MONOCHROME")) {
    throw new DicomError("INVALID_VALUE", `Photometric Interpretation ${photometric} contradicts Samples per Pixel ${samplesPerPixel}`, { attribute: "(0028,0004) PhotometricInterpretation" });
  }
  const bitsAllocated = requireUint16(dataSet, "x00280100", "BitsAllocated");
  if (bitsAllocated !== 1 && bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", `Bits Allocated (0028,0100) is ${bitsAllocated}; RareForge reads 1, 8, 16 or 32`, { attribute: "(0028,0100) BitsAllocated" });
  }
  const bitsStored = dataSet.uint16("x00280101") ?? bitsAllocated;
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw new DicomError("INVALID_VALUE", `Bits Stored (0028,0101) is ${bitsStored} with Bits Allocated ${bitsAllocated}`, { attribute: "(0028,0101) BitsStored" });
  }
  const highBit = dataSet.uint16("x00280102") ?? bitsStored - 1;
  const pixelRepresentation = dataSet.uint16("x00280103") ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw new DicomError("INVALID_VALUE", `Pixel Representation (0028,0103) is ${pixelRepresentation}; only 0 (unsigned) and 1 (two's complement) exist`, { attribute: "(0028,0103) PixelRepresentation" });
  }
  const planar = samplesPerPixel === 3 ? (dataSet.uint16("x00280006") ?? 0) : 0;
  if (planar !== 0 && planar !== 1) {
    throw new DicomError("INVALID_VALUE", `Planar Configuration (0028,0006) is ${planar}; only 0 and 1 exist`, { attribute: "(0028,0006) PlanarConfiguration" });
  }
  let numberOfFrames = 1;
  if (dataSet.elements.x00280008) {
    // dicom-parser's intString would read "1A" as 1; an IS value must be an integer string (PS3.5 6.2).
    const text = rawString(dataSet, "x00280008").trim();
    if (!/^[+]?\d{1,12}$/.test(text) || Number(text) < 1) {
      throw new DicomError("INVALID_VALUE", `Number of Frames (0028,0008) is "${text}", not a positive integer string (VR IS)`, { attribute: "(0028,0008) NumberOfFrames" });
    }
    numberOfFrames = Number(text);
  }
  return {
    rows,
    columns,
    samplesPerPixel,
    photometricInterpretation: photometric as PixelLayout["photometricInterpretation"],
    planarConfiguration: planar,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation,
    numberOfFrames,
  };
}

// ---------------------------------------------------------------------------------------------------
// Native (uncompressed) pixel data

function readNativeFrame(dataSet: DataSet, element: Element, layout: PixelLayout, frame: number, littleEndian: boolean): Int32Array {
  const samplesPerFrame = layout.rows * layout.columns * layout.samplesPerPixel;
  const byteArray = dataSet.byteArray;
  const available = Math.min(element.length, byteArray.length - element.dataOffset);
  const frameBits = samplesPerFrame * layout.bitsAllocated;
  const neededBits = frameBits * layout.numberOfFrames;
  if (available * 8 < neededBits) {
    throw new DicomError(
      "TRUNCATED",
      `Pixel Data (7FE0,0010) holds ${available} bytes; ${layout.numberOfFrames} frame(s) of ${layout.rows}×${layout.columns}×${layout.samplesPerPixel} samples at ${layout.bitsAllocated} bits need ${Math.ceil(neededBits / 8)}`,
      { attribute: "(7FE0,0010) PixelData" },
    );
  }
  const stored = new Int32Array(samplesPerFrame);
  const start = byteArray.byteOffset + element.dataOffset;
  if (layout.bitsAllocated === 1) {
    // Bit-packed, least significant bit first, frames following each other without padding (PS3.5 8.1.1).
    const firstBit = frame * frameBits;
    for (let i = 0; i < samplesPerFrame; i++) {
      const bit = firstBit + i;
      stored[i] = ((byteArray[element.dataOffset + (bit >> 3)] ?? 0) >> (bit & 7)) & 1;
    }
    return stored;
  }
  const bytesPerSample = layout.bitsAllocated / 8;
  const view = new DataView(byteArray.buffer, start + frame * samplesPerFrame * bytesPerSample, samplesPerFrame * bytesPerSample);
  for (let i = 0; i < samplesPerFrame; i++) {
    if (bytesPerSample === 1) stored[i] = view.getUint8(i);
    else if (bytesPerSample === 2) stored[i] = view.getUint16(2 * i, littleEndian);
    else stored[i] = view.getUint32(4 * i, littleEndian) | 0;
  }
  return maskToBitsStored(stored, layout);
}

/**
 * Keeps bits [highBit-bitsStored+1 .. highBit] and sign-extends when Pixel Representation is 1, so
 * overlay bits or junk above Bits Stored never leak into pixel values.
 */
function maskToBitsStored(stored: Int32Array, layout: PixelLayout): Int32Array {
  const { bitsStored, bitsAllocated, pixelRepresentation } = layout;
  const shift = Math.max(0, layout.highBit + 1 - bitsStored);
  const unsigned32 = bitsAllocated === 32 && pixelRepresentation === 0;
  if (bitsStored === bitsAllocated && shift === 0 && !(bitsAllocated === 32 && pixelRepresentation === 0)) {
    if (pixelRepresentation === 1 && bitsAllocated < 32) {
      const signShift = 32 - bitsStored;
      for (let i = 0; i < stored.length; i++) stored[i] = ((stored[i] ?? 0) << signShift) >> signShift;
    }
    return stored;
  }
  if (unsigned32 && bitsStored === 32) {
    // Values above 2^31-1 cannot be Int32; such images are not medical grey levels in practice.
    for (let i = 0; i < stored.length; i++) {
      if ((stored[i] ?? 0) < 0) throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", "Unsigned 32-bit pixel values above 2^31-1 are not supported", { attribute: "(7FE0,0010) PixelData" });
    }
    return stored;
  }
  const mask = bitsStored >= 32 ? -1 : (1 << bitsStored) - 1;
  const signShift = 32 - bitsStored;
  for (let i = 0; i < stored.length; i++) {
    const value = ((stored[i] ?? 0) >>> shift) & mask;
    stored[i] = pixelRepresentation === 1 ? (value << signShift) >> signShift : value;
  }
  return stored;
}

// ---------------------------------------------------------------------------------------------------
// Encapsulated pixel data (PS3.5 A.4)

function encapsulatedFrame(dataSet: DataSet, element: Element, numberOfFrames: number, frame: number, transferSyntaxUid: string): Uint8Array {
  const fragments = element.fragments ?? [];
  if (fragments.length === 0) {
    throw new DicomError("TRUNCATED", `Encapsulated Pixel Data (7FE0,0010) in ${describeTransferSyntax(transferSyntaxUid)} has no fragments`, { attribute: "(7FE0,0010) PixelData" });
  }
  for (const fragment of fragments) {
    if (fragment.position + fragment.length > dataSet.byteArray.length) {
      throw new DicomError("TRUNCATED", `A Pixel Data fragment ends at byte ${fragment.position + fragment.length}, past the end of the file (${dataSet.byteArray.length})`, { attribute: "(7FE0,0010) PixelData" });
    }
  }
  // Every frame has at least one fragment, and a Basic Offset Table has one offset per frame (PS3.5 A.4):
  // a Number of Frames the pixel data cannot hold is refused, however few frames are read.
  const offsets = element.basicOffsetTable?.length ?? 0;
  if (fragments.length < numberOfFrames || (offsets > 0 && offsets !== numberOfFrames)) {
    throw new DicomError(
      "INVALID_VALUE",
      `Number of Frames (0028,0008) is ${numberOfFrames}, but the Pixel Data holds ${fragments.length} fragment(s)${offsets > 0 ? ` and ${offsets} Basic Offset Table entries` : ""}`,
      { attribute: "(0028,0008) NumberOfFrames" },
    );
  }
  try {
    if (offsets > 0) return dicomParser.readEncapsulatedImageFrame(dataSet, element, frame);
    if (numberOfFrames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, 0, fragments.length);
    if (fragments.length === numberOfFrames) return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, frame, 1);
    const starts = frameStartFragments(dataSet.byteArray, fragments, transferSyntaxUid);
    if (starts?.length === numberOfFrames) {
      const first = starts[frame]!;
      return dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, element, first, (starts[frame + 1] ?? fragments.length) - first);
    }
  } catch (thrown) {
    throw new DicomError("TRUNCATED", `Frame ${frame} cannot be assembled from the Pixel Data fragments: ${parserMessage(thrown)}`, { attribute: "(7FE0,0010) PixelData" }, { cause: thrown });
  }
  throw new DicomError(
    "UNSUPPORTED_PIXEL_FORMAT",
    `${numberOfFrames} frames in ${fragments.length} fragments with an empty Basic Offset Table: frame boundaries are ambiguous`,
    { attribute: "(7FE0,0010) PixelData" },
  );
}

/**
 * Without a Basic Offset Table, frames split over several fragments can still be told apart where each frame
 * is one codestream that begins with its own marker: a frame starts in a new fragment (PS3.5 A.4), and a
 * JPEG, JPEG-LS or JPEG 2000 codestream starts with SOI (FFD8) or SOC (FF4F) and ends with EOI/EOC (FFD9).
 * A fragment that begins with the start marker right after a fragment that ends a codestream is a frame's
 * first fragment; null where the syntax has no such marker or the first fragment does not begin with it.
 */
function frameStartFragments(bytes: Uint8Array, fragments: readonly { position: number; length: number }[], transferSyntaxUid: string): number[] | null {
  const encoding = lookupTransferSyntax(transferSyntaxUid)?.pixelEncoding;
  const marker = encoding === "jpeg-2000" ? 0x4f : encoding === "jpeg-ls" || encoding === "jpeg-baseline" || encoding === "jpeg-extended" || encoding === "jpeg-lossless" ? 0xd8 : null;
  if (marker === null) return null;
  // ...and the previous frame's codestream ended there: EOI/EOC (FFD9), maybe followed by one padding byte
  const endsCodestream = (fragment: { position: number; length: number }) => {
    const end = fragment.position + fragment.length;
    return [end - 2, end - 3].some((at) => at >= fragment.position && bytes[at] === 0xff && bytes[at + 1] === 0xd9 && (at === end - 2 || bytes[end - 1] === 0));
  };
  const starts: number[] = [];
  fragments.forEach((fragment, index) => {
    const begins = fragment.length >= 2 && bytes[fragment.position] === 0xff && bytes[fragment.position + 1] === marker;
    if (begins && (index === 0 || endsCodestream(fragments[index - 1]!))) starts.push(index);
  });
  return starts[0] === 0 ? starts : null;
}

async function decodeEncapsulated(
  encoding: string,
  encoded: Uint8Array,
  layout: PixelLayout,
  transferSyntaxUid: string,
  transferSyntaxName: string,
): Promise<{ stored: Int32Array; colourIsRgb: boolean }> {
  const pixelCount = layout.rows * layout.columns;
  const details = { transferSyntaxUid, transferSyntaxName };
  const named = describeTransferSyntax(transferSyntaxUid);
  if (layout.bitsAllocated === 1) throw new DicomError("UNSUPPORTED_PIXEL_FORMAT", `1-bit pixel data cannot be encapsulated in ${named}`, details);
  const bytesPerSample = layout.bitsAllocated / 8;

  if (encoding === "rle") {
    let bytes: Uint8Array;
    try {
      bytes = decodeRleFrame(encoded, pixelCount, bytesPerSample, layout.samplesPerPixel);
    } catch (thrown) {
      throw new DicomError("DECODE_FAILED", `The ${named} frame cannot be decoded: ${parserMessage(thrown)}`, details, { cause: thrown });
    }
    return { stored: samplesFromLittleEndian(bytes, bytesPerSample, layout), colourIsRgb: false };
  }

  let codec: CodecName;
  if (encoding === "jpeg-ls") codec = "jpeg-ls";
  else if (encoding === "jpeg-2000") codec = "jpeg-2000";
  else if (encoding === "jpeg-lossless") {
    if (layout.samplesPerPixel === 3) {
      // Measured here: jpeg-lossless-decoder-js 2.1.2 drops the last pixel of about one colour stream
      // in eight (dcmcjpeg-encoded RGB); grey streams decode exactly. Wrong pixels are worse than none.
      throw new DicomError(
        "UNSUPPORTED_PIXEL_FORMAT",
        `Colour (3-sample) pixel data in ${named} is not decoded: the bundled lossless JPEG decoder is exact for grey images only`,
        details,
      );
    }
    codec = "jpeg-lossless";
  }
  else if (encoding === "jpeg-baseline" || encoding === "jpeg-extended") {
    // The bundled libjpeg-turbo build decodes 8-bit samples only; 12-bit Process 4 needs another codec.
    const precision = jpegSamplePrecision(encoded);
    if (precision !== 8) {
      throw new DicomError(
        "UNSUPPORTED_TRANSFER_SYNTAX",
        `Transfer syntax ${named} with ${precision ?? "unknown"}-bit samples is not supported: RareForge's JPEG decoder (libjpeg-turbo, 8-bit) reads 8-bit JPEG only`,
        details,
      );
    }
    codec = "jpeg-baseline";
  } else {
    throw new DicomError("UNSUPPORTED_TRANSFER_SYNTAX", `Transfer syntax ${named} is not supported: RareForge has no decoder for it`, details);
  }

  let decoded;
  try {
    decoded = await decodeFrame(codec, encoded);
  } catch (thrown) {
    throw new DicomError("DECODE_FAILED", `The ${named} frame cannot be decoded: ${parserMessage(thrown)}`, details, { cause: thrown });
  }
  if (decoded.width !== layout.columns || decoded.height !== layout.rows || decoded.componentCount !== layout.samplesPerPixel) {
    throw new DicomError(
      "INVALID_VALUE",
      `The ${named} stream is ${decoded.width}×${decoded.height}×${decoded.componentCount}, but the data set says Columns ${layout.columns}, Rows ${layout.rows}, Samples per Pixel ${layout.samplesPerPixel}`,
      details,
    );
  }
  const decodedBytesPerSample = decoded.bitsPerSample <= 8 ? 1 : 2;
  // libjpeg-turbo and OpenJPEG apply the inverse colour transform themselves; CharLS and the lossless
  // JPEG decoder return the samples as coded, in the file's photometric interpretation.
  return { stored: samplesFromLittleEndian(decoded.bytes, decodedBytesPerSample, layout), colourIsRgb: codec === "jpeg-baseline" || codec === "jpeg-2000" };
}

function samplesFromLittleEndian(bytes: Uint8Array, bytesPerSample: number, layout: PixelLayout): Int32Array {
  const count = layout.rows * layout.columns * layout.samplesPerPixel;
  if (bytes.length < count * bytesPerSample) {
    throw new DicomError("DECODE_FAILED", `The decoder returned ${bytes.length} bytes; ${count * bytesPerSample} expected`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * bytesPerSample);
  const stored = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (bytesPerSample === 1) stored[i] = view.getUint8(i);
    else if (bytesPerSample === 2) stored[i] = view.getUint16(2 * i, true);
    else stored[i] = view.getUint32(4 * i, true) | 0;
  }
  return maskToBitsStored(stored, { ...layout, bitsAllocated: (bytesPerSample * 8) as PixelLayout["bitsAllocated"], highBit: layout.bitsStored - 1 });
}

// ---------------------------------------------------------------------------------------------------
// Colour

function interleavePlanes(planar: Int32Array, pixelCount: number): Int32Array {
  const out = new Int32Array(planar.length);
  for (let i = 0; i < pixelCount; i++) {
    out[3 * i] = planar[i] ?? 0;
    out[3 * i + 1] = planar[pixelCount + i] ?? 0;
    out[3 * i + 2] = planar[2 * pixelCount + i] ?? 0;
  }
  return out;
}

/** YBR_FULL to RGB for 8-bit samples (PS3.3 C.7.6.3.1.2, the inverse of its equations). */
function ybrFullToRgb(ybr: Int32Array): Int32Array {
  const out = new Int32Array(ybr.length);
  const clamp = (value: number): number => Math.min(255, Math.max(0, Math.round(value)));
  for (let i = 0; i < ybr.length; i += 3) {
    const y = ybr[i] ?? 0;
    const cb = (ybr[i + 1] ?? 0) - 128;
    const cr = (ybr[i + 2] ?? 0) - 128;
    out[i] = clamp(y + 1.402 * cr);
    out[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    out[i + 2] = clamp(y + 1.772 * cb);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Modality LUT (PS3.3 C.11.1): modality value = stored value × slope + intercept

function toModalityValues(stored: Int32Array, slope: number, intercept: number): Int32Array | Float32Array {
  if (slope === 1 && intercept === 0) return stored;
  if (Number.isInteger(slope) && Number.isInteger(intercept)) {
    const out = new Int32Array(stored.length);
    for (let i = 0; i < stored.length; i++) out[i] = (stored[i] ?? 0) * slope + intercept;
    return out;
  }
  const out = new Float32Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = (stored[i] ?? 0) * slope + intercept;
  return out;
}
