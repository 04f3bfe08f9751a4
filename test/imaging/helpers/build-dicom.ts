import dcmjs from "dcmjs";
import type { DcmjsDataSet } from "dcmjs";

/**
 * Builds small Part 10 files with exactly the Image Pixel attributes a test needs, through dcmjs's
 * writer (Explicit VR Little Endian). Only for reader tests: RareForge's own files come from
 * writeSyntheticDicom.
 */
export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel?: number;
  photometricInterpretation?: string;
  planarConfiguration?: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit?: number;
  pixelRepresentation: number;
  numberOfFrames?: number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** Raw little-endian pixel bytes, all frames. */
  pixelData: Uint8Array;
}

export function buildDicom(pixel: PixelModule): Uint8Array {
  const sopInstanceUid = "2.25.1000000000000000000000000000001";
  const dataSet: DcmjsDataSet = {
    "00080016": { vr: "UI", Value: ["1.2.840.10008.5.1.4.1.1.7"] },
    "00080018": { vr: "UI", Value: [sopInstanceUid] },
    "00080060": { vr: "CS", Value: ["OT"] },
    "00280002": { vr: "US", Value: [pixel.samplesPerPixel ?? 1] },
    "00280004": { vr: "CS", Value: [pixel.photometricInterpretation ?? "MONOCHROME2"] },
    "00280010": { vr: "US", Value: [pixel.rows] },
    "00280011": { vr: "US", Value: [pixel.columns] },
    "00280100": { vr: "US", Value: [pixel.bitsAllocated] },
    "00280101": { vr: "US", Value: [pixel.bitsStored] },
    "00280102": { vr: "US", Value: [pixel.highBit ?? pixel.bitsStored - 1] },
    "00280103": { vr: "US", Value: [pixel.pixelRepresentation] },
    "7FE00010": { vr: pixel.bitsAllocated > 8 ? "OW" : "OB", Value: [pixel.pixelData.slice().buffer] },
  };
  if (pixel.planarConfiguration !== undefined) dataSet["00280006"] = { vr: "US", Value: [pixel.planarConfiguration] };
  if (pixel.numberOfFrames !== undefined) dataSet["00280008"] = { vr: "IS", Value: [String(pixel.numberOfFrames)] };
  if (pixel.rescaleSlope !== undefined) dataSet["00281053"] = { vr: "DS", Value: [String(pixel.rescaleSlope)] };
  if (pixel.rescaleIntercept !== undefined) dataSet["00281052"] = { vr: "DS", Value: [String(pixel.rescaleIntercept)] };
  const file = new dcmjs.data.DicomDict({
    "00020001": { vr: "OB", Value: [new Uint8Array([0, 1]).buffer] },
    "00020002": { vr: "UI", Value: ["1.2.840.10008.5.1.4.1.1.7"] },
    "00020003": { vr: "UI", Value: [sopInstanceUid] },
    "00020010": { vr: "UI", Value: ["1.2.840.10008.1.2.1"] },
    "00020012": { vr: "UI", Value: ["2.25.1"] },
  });
  file.dict = dataSet;
  return new Uint8Array(file.write());
}

export function littleEndian16(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 2);
  const view = new DataView(bytes.buffer);
  values.forEach((value, index) => view.setUint16(2 * index, value & 0xffff, true));
  return bytes;
}

export function littleEndian32(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((value, index) => view.setInt32(4 * index, value, true));
  return bytes;
}

/** The data set alone: no 128-byte preamble, no "DICM", no group 0002 (as some modalities send files). */
export function stripFileMeta(part10: Uint8Array): Uint8Array {
  const view = new DataView(part10.buffer, part10.byteOffset, part10.byteLength);
  // (0002,0000) UL group length sits right after "DICM": tag(4) + VR(2) + length(2) + value(4).
  const groupLength = view.getUint32(132 + 8, true);
  return part10.slice(132 + 12 + groupLength);
}
