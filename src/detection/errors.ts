// Expected failures of the detector in the loop, as typed errors with a closed set of codes, so callers
// (CLI, GraphQL later) can tell a bad package from a bad request without parsing messages.

export const DETECTOR_ERROR_CODES = [
  "not-found",
  "too-large",
  "invalid-manifest",
  "unreadable-onnx",
  "unexpected-input-layout",
  "unexpected-output-layout",
  "unknown-class",
  "no-class-names",
  "invalid-image",
  "invalid-threshold",
] as const;
export type DetectorErrorCode = (typeof DETECTOR_ERROR_CODES)[number];

/** A detector or critic package (or a bare ONNX file) that cannot be used as declared. */
export class DetectorPackageError extends Error {
  override readonly name = "DetectorPackageError";
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
    /** The file or directory at fault. */
    readonly source?: string,
  ) {
    super(message);
  }
}

/** Bad arguments to scoring or statistics (a malformed box, a negative count, a threshold outside 0..1). */
export class ScoringInputError extends Error {
  override readonly name = "ScoringInputError";
}
