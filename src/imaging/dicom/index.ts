export { DicomError, DICOM_ERROR_CODES, isDicomError, type DicomErrorCode, type DicomErrorDetails } from "./errors.ts";
export { readDicom, readProvenanceRecord, type DicomImage, type DicomSummary, type ReadDicomOptions, type PhotometricInterpretation } from "./read.ts";
export { describeTransferSyntax, lookupTransferSyntax, type TransferSyntax } from "./transfer-syntax.ts";
export {
  writeSyntheticDicom,
  MR_IMAGE_STORAGE,
  SECONDARY_CAPTURE_IMAGE_STORAGE,
  PROVENANCE_PRIVATE_CREATOR,
  PROVENANCE_RECORD_TAG,
  SYNTHESIZING_EQUIPMENT_CODE,
  type ImagePlaneGeometry,
  type SyntheticDicomInput,
} from "./write.ts";
export { UID_ROOT, generateUid, isValidUid, uidFromName, uuidToUid } from "./uid.ts";
export {
  deidentifyDicom,
  BASIC_PROFILE_NAME,
  MODIFIED_DATES_OPTION_NAME,
  type DeidentifyOptions,
  type DeidentificationReport,
  type DeidentifiedDicom,
} from "./deidentify.ts";
export {
  lesionGroundTruth,
  groundTruthDocument,
  maskRuns,
  maskFromRuns,
  writeLesionSegmentation,
  SEGMENTATION_STORAGE,
  type LesionCondition,
  type LesionGroundTruth,
  type LesionGroundTruthDocument,
  type GroundTruthImageReference,
  type LesionSegmentationInput,
} from "./ground-truth.ts";
export { windowForRange, windowFromPixels, type VoiWindow } from "./window.ts";
