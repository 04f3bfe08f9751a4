export {
  encodePng,
  readPngRecord,
  tensorToPixels,
  RECORD_KEYWORD,
  PNG_FORMATS,
  PngError,
  type GenerationRecord,
  type PngPixels,
  type PngFormat,
  type ImageTensor,
  type PixelMapping,
} from "./png.ts";
export * as dicom from "./dicom/index.ts";
