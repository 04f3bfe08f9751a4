// The detector in the loop: what other modules may use. Everything else in src/detection is private.
export { DetectorPackageError, ScoringInputError, DETECTOR_ERROR_CODES, type DetectorErrorCode } from "./errors.ts";
export { iou, boxArea, fractionToPixelBox, nonMaxSuppression, type PixelBox, type Detection } from "./boxes.ts";
export { letterbox, ULTRALYTICS_PAD_VALUE, type LetterboxGeometry, type LetterboxOptions, type LetterboxedInput, type ChannelOrder, type LetterboxPlacement } from "./preprocess.ts";
export { decodeYoloOutput, decodeYoloxOutput, yoloxCandidateCount, YOLOX_STRIDES, type DecodeOptions } from "./postprocess.ts";
export { DETECTOR_LAYOUTS, detectLayout, detectorLayout, parseLayoutName, type DetectorLayout, type DetectorLayoutName } from "./layouts.ts";
export { readOnnxModelInfo, parseUltralyticsNames, type OnnxModelInfo, type OnnxValueInfo, type OnnxDim } from "./onnx-proto.ts";
export { COCO_CLASSES, COCO_CLASS_MAP, defaultClassMap, validateClassMap, normaliseClassMap, parseClassMapArgument, type ClassMap } from "./class-map.ts";
export { detectorManifestSchema, criticManifestSchema, type DetectorManifest, type CriticManifest, type CriticField } from "./manifest.ts";
export {
  loadDetector,
  describeDetector,
  checkThresholds,
  type Detector,
  type DetectorKind,
  type DetectorInputSpec,
  type DetectionThresholds,
  type LoadDetectorOptions,
} from "./detector.ts";
export { scoreSample, OUTCOMES, MISS_OUTCOMES, isMiss, type MissOutcome, type Outcome, type IntendedObject, type ObjectScore, type SampleScore, type ScoreSampleInput } from "./scoring.ts";
export {
  missRateReport,
  clopperPearson,
  regularizedIncompleteBeta,
  inverseRegularizedIncompleteBeta,
  logGamma,
  type Proportion,
  type ScoredSample,
  type ParameterLevel,
  type ParameterBreakdown,
  type MissRateReport,
  type MissRateOptions,
} from "./statistics.ts";
export {
  loadCritic,
  readCriticManifest,
  decodeCriticOutput,
  decodeLookOutput,
  combineLook,
  lookWeight,
  readingAtPlace,
  lookPlace,
  seenValues,
  lookWindow,
  lookInput,
  mirrorLookInput,
  judgeRealism,
  DEFAULT_REALISM_THRESHOLDS,
  type Critic,
  type CriticPrediction,
  type LookPlace,
  type LookShift,
  type RealismThresholds,
  type RealismReason,
  type RealismVerdict,
  type LoadCriticOptions,
} from "./critic.ts";
export {
  ScoringSessions,
  scoreImages,
  openRecordedDetector,
  describeDetectorSource,
  shippedDetectorPackages,
  findCriticPackage,
  intendedClasses,
  unmappedClasses,
  type DetectorSource,
  type DetectorRecord,
  type RealismGate,
  type ScoringItem,
  type SampleVerdict,
  type DetectionRow,
  changedRegionsOf,
} from "./in-the-loop.ts";
export { detectorFilesOf, type DetectorFiles } from "./files.ts";
export { DetectorService, DetectorUnusableError, type ScoreSamplesOutcome } from "./service.ts";
export { ReportService, type DetectorReport, type HardSample, type OutcomeCounts } from "./reports.ts";
export { scoreWithDetector, writeScores, detectorRecordOf, scoreUntouchedFrames, type FrameDetection } from "./rows.ts";
