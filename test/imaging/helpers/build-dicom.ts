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

/** The same Part 10 file with the Transfer Syntax UID (0002,0010) left out of its file meta information. */
export function withoutTransferSyntaxUid(part10: Uint8Array): Uint8Array {
  const view = new DataView(part10.buffer, part10.byteOffset, part10.byteLength);
  const metaStart = 132 + 12;
  const metaEnd = metaStart + view.getUint32(132 + 8, true);
  const kept: Uint8Array[] = [];
  for (let at = metaStart; at < metaEnd; ) {
    const element = view.getUint16(at + 2, true);
    const vr = String.fromCharCode(part10[at + 4]!, part10[at + 5]!);
    const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
    const size = (long ? 12 + view.getUint32(at + 8, true) : 8 + view.getUint16(at + 6, true));
    if (element !== 0x0010) kept.push(part10.slice(at, at + size));
    at += size;
  }
  const metaLength = kept.reduce((n, e) => n + e.length, 0);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaLength, true);
  return Uint8Array.from([...part10.slice(0, 132), ...explicitElement(0x0002, 0x0000, "UL", groupLength), ...kept.flatMap((e) => [...e]), ...part10.slice(metaEnd)]);
}

/** One Explicit VR Little Endian element (PS3.5 7.1.2); OB/OW/SQ/UN/UT take the 4-byte length form. */
function explicitElement(group: number, element: number, vr: string, value: Uint8Array | string, undefinedLength = false): Uint8Array {
  let bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  if (bytes.length % 2 === 1) bytes = Uint8Array.from([...bytes, vr === "UI" || vr === "OB" ? 0 : 0x20]);
  const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
  const head = new Uint8Array(long ? 12 : 8);
  const view = new DataView(head.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, element, true);
  head.set([vr.charCodeAt(0), vr.charCodeAt(1)], 4);
  if (long) view.setUint32(8, undefinedLength ? 0xffffffff : bytes.length, true);
  else view.setUint16(6, bytes.length, true);
  return Uint8Array.from([...head, ...bytes]);
}

const us = (value: number) => Uint8Array.from([value & 0xff, value >> 8]);

/** An item (FFFE,E000) of encapsulated pixel data: the Basic Offset Table or one fragment. */
function item(bytes: Uint8Array): Uint8Array {
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  view.setUint16(0, 0xfffe, true);
  view.setUint16(2, 0xe000, true);
  view.setUint32(4, bytes.length, true);
  return Uint8Array.from([...head, ...bytes]);
}

/** An RLE Lossless frame of 8-bit grey pixels: a 64-byte header naming one segment, one PackBits literal run. */
export function rleFrame(pixels: readonly number[]): Uint8Array {
  const header = new Uint8Array(64);
  new DataView(header.buffer).setUint32(0, 1, true);
  new DataView(header.buffer).setUint32(4, 64, true);
  const segment = [pixels.length - 1, ...pixels];
  if (segment.length % 2 === 1) segment.push(0);
  return Uint8Array.from([...header, ...segment]);
}

/**
 * A 2×2 8-bit grey Part 10 file in RLE Lossless (encapsulated pixel data, PS3.5 A.4) declaring
 * `numberOfFrames`, with the given fragments and Basic Offset Table entries (none: an empty table).
 */
export function buildRleDicom(options: { numberOfFrames: number; fragments: readonly Uint8Array[]; offsets?: readonly number[] }): Uint8Array {
  const sopClass = "1.2.840.10008.5.1.4.1.1.7";
  const sopInstance = "2.25.1000000000000000000000000000002";
  const table = new Uint8Array(4 * (options.offsets?.length ?? 0));
  options.offsets?.forEach((offset, k) => new DataView(table.buffer).setUint32(4 * k, offset, true));
  const delimiter = Uint8Array.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  const pixelData = Uint8Array.from([...explicitElement(0x7fe0, 0x0010, "OB", new Uint8Array(), true), ...item(table), ...options.fragments.flatMap((f) => [...item(f)]), ...delimiter]);
  const meta = [
    explicitElement(0x0002, 0x0001, "OB", Uint8Array.from([0, 1])),
    explicitElement(0x0002, 0x0002, "UI", sopClass),
    explicitElement(0x0002, 0x0003, "UI", sopInstance),
    explicitElement(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.5"),
    explicitElement(0x0002, 0x0012, "UI", "2.25.1"),
  ];
  const metaLength = meta.reduce((n, e) => n + e.length, 0);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, metaLength, true);
  const dataSet = [
    explicitElement(0x0008, 0x0016, "UI", sopClass),
    explicitElement(0x0008, 0x0018, "UI", sopInstance),
    explicitElement(0x0008, 0x0060, "CS", "OT"),
    explicitElement(0x0028, 0x0002, "US", us(1)),
    explicitElement(0x0028, 0x0004, "CS", "MONOCHROME2"),
    explicitElement(0x0028, 0x0008, "IS", String(options.numberOfFrames)),
    explicitElement(0x0028, 0x0010, "US", us(2)),
    explicitElement(0x0028, 0x0011, "US", us(2)),
    explicitElement(0x0028, 0x0100, "US", us(8)),
    explicitElement(0x0028, 0x0101, "US", us(8)),
    explicitElement(0x0028, 0x0102, "US", us(7)),
    explicitElement(0x0028, 0x0103, "US", us(0)),
    pixelData,
  ];
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return Uint8Array.from([...preamble, ...explicitElement(0x0002, 0x0000, "UL", groupLength), ...meta.flatMap((e) => [...e]), ...dataSet.flatMap((e) => [...e])]);
}
