/**
 * A generation request that cannot run; each is raised before any sampling work starts. Bad sampling
 * settings (sampler, steps, guidance, eta, seed, batch size) are a ValidationError from settings.ts instead.
 */
export const GENERATION_INPUT_ERROR_CODES = [
  "strength",
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
