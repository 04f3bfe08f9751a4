export { ModelPackageError, ConditionError, type ModelPackageErrorCode } from "./errors.ts";
export {
  modelManifestSchema,
  sampleShape,
  PACKAGE_NAME,
  IMAGE_FORMATS,
  PREDICTION_TYPES,
  SCHEDULE_KINDS,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
  type ModelManifest,
  type ConditionField,
  type ScalarCalibration,
  type ScalarFeedback,
  type LabelRule,
  type PlausibleBox,
  type PlausibleCircle,
  type NoiseSchedule,
  type PredictionType,
  DERIVATION_METHODS,
  type DerivedFrom,
} from "./manifest.ts";
export {
  loadModelPackage,
  loadModelPackageAsync,
  loadPackageIdentity,
  verifyPackageFiles,
  verifyPackageFilesAsync,
  resolveModelDir,
  sha256File,
  sha256FileAsync,
  packageIdentitySchema,
  hashExportFiles,
  MODEL_PACKAGE_KINDS,
  type ModelPackageKind,
  type ModelPackage,
  type PackageIdentity,
} from "./package.ts";
export {
  encodeCondition,
  calibratedValue,
  calibratedParameters,
  type CalibratedParameter,
  unconditionalVector,
  conditionIssues,
  assertParametersFit,
  type ScenarioParameters,
} from "./condition.ts";
export { conditionCircles, deriveLabels, type ConditionCircle, type GroundTruth, type GroundTruthBox, type GroundTruthMask } from "./labels.ts";
export { optimumManifestSchema, OPTIMUM_SCHEMA, OPTIMUM_MANIFEST_FILE, OPTIMUM_PARTS, type OptimumManifest, type OptimumManifestParsed, type OptimumManifestInput } from "./optimum/manifest.ts";
export { describeOptimumExport, exportFiles, manifestView, parseOptimumManifest, resolveOptimumManifest, type OptimumExport } from "./optimum/package.ts";
export { parseSchedulerConfig, SchedulerConfigError, SCHEDULER_CLASSES, type OptimumSchedulerSettings, type SchedulerClassName } from "./optimum/scheduler-config.ts";
export { renderPrompt, templateFields, PromptTemplateError } from "./optimum/prompt.ts";
export { installOptimumExport, type InstalledExport, type OptimumInstallRequest } from "./optimum/install.ts";
