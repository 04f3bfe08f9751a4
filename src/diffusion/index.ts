export {
  generateSamples,
  openModelRuntime,
  validateRequest,
  denoiseBatch,
  decodeSamples,
  MAX_STEPS,
  type GenerateSamplesRequest,
  type GeneratedSample,
  type ModelRuntime,
  type RuntimeOptions,
  type NoiseSource,
  type DenoiseBatchOptions,
} from "./pipeline.ts";
export { GenerationInputError, GENERATION_INPUT_ERROR_CODES, type GenerationInputErrorCode } from "./errors.ts";
export {
  createSession,
  parseExecutionProvider,
  onnxRuntimeVersion,
  EXECUTION_PROVIDERS,
  AUTO_PROVIDER_ORDER,
  ExecutionProviderError,
  SessionInputError,
  type ExecutionProviderName,
  type ResolvedExecutionProvider,
  type OnnxSession,
  type SessionSettings,
  type TensorInput,
  type TensorOutput,
} from "./onnx.ts";
export { SampleNoise, noiseState, NoiseKeyError } from "./noise.ts";
export { encodeSamplePng, pngFormatOf } from "./output.ts";
export { decodeImage, resizeBilinear, toModelSpace, maskToSampleGrid, normaliseStoredRange, type DecodedImage } from "./reference.ts";
export {
  createScheduler,
  parseSampler,
  SAMPLERS,
  SchedulerError,
  type SamplerName,
  type Scheduler,
  type SchedulerOptions,
  type SchedulerStepResult,
} from "./schedulers/index.ts";
