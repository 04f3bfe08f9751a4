/** Why a model package could not be used. Thrown before any sampling work starts. */
export type ModelPackageErrorCode =
  | "not-found"
  | "invalid-name"
  | "missing-file"
  | "hash-mismatch"
  | "invalid-manifest"
  | "undeclared-file"
  /** An Optimum export whose parts do not fit together (UNet channels, hidden-state width, extra inputs). */
  | "incompatible-parts"
  /** An Optimum export whose tokenizer does not load. */
  | "tokenizer"
  /** An ONNX part that onnxruntime cannot load (corrupt or truncated file, unsupported operator). */
  | "unloadable-part";

export class ModelPackageError extends Error {
  override readonly name = "ModelPackageError";
  constructor(
    readonly code: ModelPackageErrorCode,
    message: string,
    readonly packageDir: string,
  ) {
    super(message);
  }
}

/** Scenario parameters that do not fit a model's condition layout. `issues` lists each problem. */
export class ConditionError extends Error {
  override readonly name = "ConditionError";
  constructor(
    readonly model: string,
    readonly issues: readonly string[],
  ) {
    super(`parameters do not fit the condition layout of model "${model}": ${issues.join("; ")}`);
  }
}
