export {
  generateSamples,
  openModelRuntime,
  validateRequest,
  denoiseBatch,
  decodeSamples,
  type GenerateSamplesRequest,
  type GeneratedSample,
  type ModelRuntime,
  type RuntimeOptions,
  type NoiseSource,
  type DenoiseBatchOptions,
} from "./pipeline.ts";
export { GenerationInputError, GENERATION_INPUT_ERROR_CODES, type GenerationInputErrorCode } from "./errors.ts";
export { SampleNoise, noiseState, NoiseKeyError } from "./noise.ts";
export { encodeSamplePng, samplePixels, pngFormatOf } from "./output.ts";
export {
  createScheduler,
  parseSampler,
  samplerConstantName,
  SAMPLERS,
  SchedulerError,
  type SamplerName,
  type Scheduler,
  type SchedulerOptions,
  type SchedulerStepResult,
} from "./schedulers/index.ts";
export {
  samplingSettingsSchema,
  resolveSamplingSettings,
  modelSamplingDefaults,
  MAX_STEPS,
  MAX_BATCH_SIZE,
  DEFAULT_BATCH_SIZE,
  GUIDANCE_RANGE,
  FALLBACK_SAMPLING,
  type SamplingSettings,
  type SamplingSettingsInput,
  type SamplingContext,
} from "./settings.ts";
