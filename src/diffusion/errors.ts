/** A generation request that cannot run; each is raised before any sampling work starts. */
export const GENERATION_INPUT_ERROR_CODES = [
  "steps",
  "guidance",
  "strength",
  "seed",
  "batch-size",
  "indices",
  "reference-not-image",
  "mask-size",
  "mask-without-reference",
  "unsupported",
] as const;
export type GenerationInputErrorCode = (typeof GENERATION_INPUT_ERROR_CODES)[number];

export class GenerationInputError extends Error {
  override readonly name = "GenerationInputError";
  constructor(
    readonly code: GenerationInputErrorCode,
    message: string,
  ) {
    super(message);
  }
}
