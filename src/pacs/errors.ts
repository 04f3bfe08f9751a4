// Why a PACS operation failed or was refused. Each carries a code a caller can branch on.
import { DomainError } from "../errors.ts";

export const PACS_ERROR_CODES = [
  /** No endpoint of that name is configured. */
  "UNKNOWN_ENDPOINT",
  "UNREACHABLE",
  "TIMEOUT",
  "UNAUTHORIZED",
  "NOT_FOUND",
  /** Any other HTTP failure. */
  "HTTP",
  "BAD_RESPONSE",
  "TOO_LARGE",
  /** Nothing to import or send (an empty series, no DICOM among the chosen samples). */
  "NOTHING_TO_TRANSFER",
  /** A file that lacks Synthetic Data = YES: never sent. */
  "NOT_SYNTHETIC",
] as const;
export type PacsErrorCode = (typeof PACS_ERROR_CODES)[number];

export class PacsError extends DomainError {
  override name = "PacsError";
  constructor(
    readonly code: PacsErrorCode,
    message: string,
    readonly httpStatus: number | null = null,
  ) {
    super(message);
  }
}
