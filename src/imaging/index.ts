export {
  encodePng,
  encodeLargePng,
  encodePngBands,
  encodeStoredPng,
  LARGE_PNG_BAND_ROWS,
  type PngBands,
  LARGE_PNG_ZLIB_LEVEL,
  readPngRecord,
  tensorToPixels,
  RECORD_KEYWORD,
  PNG_FORMATS,
  PngError,
  type PngPixels,
  type PngFormat,
  type ImageTensor,
  type PixelMapping,
} from "./png.ts";
export * as dicom from "./dicom/index.ts";
export {
  writeMedicalSampleFiles,
  jobSampleUidNames,
  recordUidNames,
  lesionsAt,
  DICOM_MEDIA_TYPE,
  GROUND_TRUTH_MEDIA_TYPE,
  type CompanionFile,
  type LesionSpec,
  type MedicalSampleFiles,
  type MedicalSampleInput,
} from "./medical-sample.ts";
export {
  regionMask,
  maskBounds,
  featherWeights,
  distanceToRegion,
  gridMask,
  resizePlane,
  type PixelRect,
  compositeInto,
  matchColourStatistics,
  RegionError,
  type ScanRegion,
} from "./composite.ts";
export { decodeImage, readImageHeader, checkImageHeader, imageFromPixels, ImageDecodeError, type DecodedImage, type ImageHeader } from "./decode.ts";
export { resizeBilinear, toModelSpace, maskToSampleGrid, normaliseStoredRange } from "./raster.ts";
