/**
 * Why a DICOM file was refused. Callers (the GraphQL upload, dataset import) map each code to a
 * user-facing message; none of them is ever a crash.
 */
export type DicomErrorCode =
  | "NOT_DICOM"
  | "TRUNCATED"
  | "UNSUPPORTED_TRANSFER_SYNTAX"
  | "INVALID_VALUE"
  | "MISSING_ATTRIBUTE"
  | "NO_PIXEL_DATA"
  | "UNSUPPORTED_PIXEL_FORMAT"
  | "FRAME_OUT_OF_RANGE"
  | "TOO_LARGE"
  | "DECODE_FAILED"
  | "INVALID_INPUT";

export const DICOM_ERROR_CODES: readonly DicomErrorCode[] = [
  "NOT_DICOM",
  "TRUNCATED",
  "UNSUPPORTED_TRANSFER_SYNTAX",
  "INVALID_VALUE",
  "MISSING_ATTRIBUTE",
  "NO_PIXEL_DATA",
  "UNSUPPORTED_PIXEL_FORMAT",
  "FRAME_OUT_OF_RANGE",
  "TOO_LARGE",
  "DECODE_FAILED",
  "INVALID_INPUT",
];

export interface DicomErrorDetails {
  /** The attribute at fault, as "(gggg,eeee) Keyword". */
  attribute?: string;
  transferSyntaxUid?: string;
  transferSyntaxName?: string;
}

/** A file that RareForge will not read or write, with the reason in `code` and the details in `message`. */
export class DicomError extends Error {
  override readonly name = "DicomError";
  readonly code: DicomErrorCode;
  readonly details: DicomErrorDetails;

  constructor(code: DicomErrorCode, message: string, details: DicomErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

export function isDicomError(value: unknown): value is DicomError {
  return value instanceof DicomError;
}
