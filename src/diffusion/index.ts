export {
  generateSamples,
  openModelRuntime,
  openConditionRuntime,
  validateRequest,
  denoiseLoop,
  drawnPrompt,
  denoiseBatch,
  decodeSamples,
  type GenerateSamplesRequest,
  type GeneratedSample,
  type ModelRuntime,
  type ConditionRuntime,
  type PromptTemplate,
  type DenoiseLoopOptions,
  type RuntimeOptions,
  type NoiseSource,
  type DenoiseBatchOptions,
} from "./pipeline.ts";
export { GenerationInputError, GENERATION_INPUT_ERROR_CODES, type GenerationInputErrorCode } from "./errors.ts";
export { SampleNoise, noiseState, NoiseKeyError } from "./noise.ts";
export { encodeSamplePng, samplePixels, pngFormatOf } from "./output.ts";
export { heldRecord } from "./feedback.ts";
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
  SAMPLING_QUALITIES,
  type SamplingQuality,
  type SamplingSettings,
  type SamplingSettingsInput,
  type SamplingContext,
} from "./settings.ts";
export { openOptimumRuntime, type OptimumRuntime } from "./optimum/runtime.ts";
export { sampleOptimumBatch, sampleOptimumLatents, encodeTexts, encodeImages, decodeLatents, resizeNearest, type OptimumBatchOptions, type OptimumReference } from "./optimum/pipeline.ts";
export { readOptimumLayout, type OptimumLayout } from "./optimum/layout.ts";
