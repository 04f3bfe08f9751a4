// Why an upload or a pathology insertion was refused. Raised before anything is stored.
import { DomainError } from "../errors.ts";
import type { DicomErrorCode } from "../imaging/dicom/index.ts";

export const UPLOAD_REFUSAL_CODES = ["EMPTY", "TOO_LARGE", "UNSUPPORTED_TYPE", "DICOM_REFUSED", "IMAGE_REFUSED"] as const;
export type UploadRefusalCode = (typeof UPLOAD_REFUSAL_CODES)[number];

/** A reference scan that will not be stored: too big, not DICOM/PNG/JPEG, or a file the readers refuse. */
export class UploadRefusedError extends DomainError {
  override name = "UploadRefusedError";
  constructor(
    readonly code: UploadRefusalCode,
    message: string,
    /** For DICOM_REFUSED: the reader's reason (TRUNCATED, UNSUPPORTED_TRANSFER_SYNTAX…). */
    readonly dicomCode: DicomErrorCode | null = null,
    readonly transferSyntaxUid: string | null = null,
  ) {
    super(message);
  }
}

export const INSERTION_REFUSAL_CODES = ["SCAN_NOT_DICOM", "SCAN_UNSUPPORTED", "MODEL_UNSUITABLE", "REGION", "FRAME_IS_DICOM", "FRAME_NOT_AUTOMOTIVE", "FRAME_UNSUPPORTED", "PLACEMENT", "CAMERA_REQUIRED"] as const;
export type InsertionRefusalCode = (typeof INSERTION_REFUSAL_CODES)[number];

/** A pathology or hazard insertion that cannot be done with this scan or frame, model or region. */
export class InsertionRefusedError extends DomainError {
  override name = "InsertionRefusedError";
  constructor(
    readonly code: InsertionRefusalCode,
    message: string,
  ) {
    super(message);
  }
}
