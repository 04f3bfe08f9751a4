/** Transfer syntaxes RareForge knows by name, so every refusal can say which one it met (PS3.6 Annex A). */
export interface TransferSyntax {
  uid: string;
  name: string;
  /** How the pixel data is stored: native (uncompressed) or one of the encapsulated codecs. */
  pixelEncoding: "native" | "rle" | "jpeg-baseline" | "jpeg-extended" | "jpeg-lossless" | "jpeg-ls" | "jpeg-2000" | "other-encapsulated";
  littleEndian: boolean;
  explicitVr: boolean;
  deflated: boolean;
}

function syntax(uid: string, name: string, pixelEncoding: TransferSyntax["pixelEncoding"], extra: Partial<TransferSyntax> = {}): TransferSyntax {
  return { uid, name, pixelEncoding, littleEndian: true, explicitVr: true, deflated: false, ...extra };
}

export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";
export const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2";

const KNOWN: TransferSyntax[] = [
  syntax(IMPLICIT_VR_LITTLE_ENDIAN, "Implicit VR Little Endian", "native", { explicitVr: false }),
  syntax(EXPLICIT_VR_LITTLE_ENDIAN, "Explicit VR Little Endian", "native"),
  syntax("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", "native", { deflated: true }),
  syntax(EXPLICIT_VR_BIG_ENDIAN, "Explicit VR Big Endian (retired)", "native", { littleEndian: false }),
  syntax("1.2.840.10008.1.2.5", "RLE Lossless", "rle"),
  syntax("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "jpeg-baseline"),
  syntax("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", "jpeg-extended"),
  syntax("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", "jpeg-lossless"),
  syntax("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", "jpeg-lossless"),
  syntax("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", "jpeg-ls"),
  syntax("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", "jpeg-ls"),
  syntax("1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", "jpeg-2000"),
  syntax("1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", "jpeg-2000"),
  syntax("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", "other-encapsulated"),
  syntax("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", "other-encapsulated"),
  syntax("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", "other-encapsulated"),
  syntax("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", "other-encapsulated"),
  syntax("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", "other-encapsulated"),
  syntax("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", "other-encapsulated"),
];

const BY_UID = new Map(KNOWN.map((entry) => [entry.uid, entry]));

/** The named transfer syntax, or undefined for a UID outside PS3.6's list (a private or mistyped one). */
export function lookupTransferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}

/** "1.2.840.10008.1.2.4.80 (JPEG-LS Lossless Image Compression)" — how errors name a transfer syntax. */
export function describeTransferSyntax(uid: string): string {
  const known = BY_UID.get(uid);
  return known ? `${uid} (${known.name})` : `${uid} (unknown transfer syntax)`;
}
