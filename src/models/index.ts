export { ModelPackageError, ConditionError, type ModelPackageErrorCode } from "./errors.ts";
export {
  modelManifestSchema,
  sampleShape,
  PACKAGE_NAME,
  IMAGE_FORMATS,
  PREDICTION_TYPES,
  SCHEDULE_KINDS,
  type ModelManifest,
  type ConditionField,
  type ScalarCalibration,
  type LabelRule,
  type PlausibleBox,
  type PlausibleCircle,
  type NoiseSchedule,
  type PredictionType,
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
  type ModelPackage,
  type PackageIdentity,
} from "./package.ts";
export {
  encodeCondition,
  calibratedValue,
  calibratedParameters,
  unconditionalVector,
  conditionIssues,
  assertParametersFit,
  type ScenarioParameters,
} from "./condition.ts";
export { conditionCircles, deriveLabels, type ConditionCircle, type GroundTruth, type GroundTruthBox, type GroundTruthMask } from "./labels.ts";
