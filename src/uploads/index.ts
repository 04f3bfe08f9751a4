// Reference scans: uploads de-identified before storage, and pathologies inpainted into them.
export { prepareReferenceScan, type PreparedScan, type PrepareOptions, type ReferenceScanKind } from "./prepare.ts";
export {
  ReferenceScanService,
  referenceScanSettings,
  parseInsertionInput,
  parseHazardParameters,
  type UploadSource,
  deidentificationKey,
  insertionUidNames,
  DEFAULT_FEATHER,
  DEFAULT_INSERTION_MODEL,
  type InsertionRegion,
  type PathologyInsertionRequest,
  type HazardInsertionRequest,
  DEFAULT_HAZARD_MODEL,
  type ReferenceScanSettings,
} from "./service.ts";
export { UploadRefusedError, InsertionRefusedError, UPLOAD_REFUSAL_CODES, INSERTION_REFUSAL_CODES, type UploadRefusalCode, type InsertionRefusalCode } from "./errors.ts";
export { insertHazardIntoFrame, decodeCameraFrame, cropWindowFor, checkHazardBox, checkCamera, hazardLabelOf, boxFromPlacement, MIN_HAZARD_BOX_PIXELS, TYPICAL_SIZE_M, type CameraDescription, type HazardPlacement, type CameraFrame, type FrameBox, type CropWindow, type HazardGroundTruth, type HazardInsertionResult } from "./hazard.ts";
export { resolveInsertionSettings, openInsertionRuntime } from "./inpaint.ts";
export { ReferenceSetService, cameraSchema, hazardClasses, conditionValuesOf, MAX_SET_FRAMES, type BackgroundFrame, type ResolvedBackground, type ReferenceSetInput } from "./reference-sets.ts";
export { drawFrameSample, generateFrameBatch, reproduceFrameSample, frameLabels, type FrameDraw, type FrameBatchRequest } from "./frames.ts";
