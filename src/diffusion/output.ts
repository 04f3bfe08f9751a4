// A generated sample -> PNG bytes in the manifest's format, with its record in a text chunk.
import { encodePng, tensorToPixels, type PngFormat, type PngPixels } from "../imaging/index.ts";
import type { ModelManifest } from "../models/index.ts";
import type { GeneratedSample } from "./pipeline.ts";

/** png-rgb8 as 8-bit RGB; png-gray16 (and dicom-gray16, whose DICOM writer lives in imaging/) as 16-bit gray. */
export function pngFormatOf(manifest: ModelManifest): PngFormat {
  return manifest.image.format === "png-rgb8" ? "png-rgb8" : "png-gray16";
}

/** The sample's pixels as its PNG stores them (quantised; 16-bit gray in stored units for medical models). */
export function samplePixels(sample: GeneratedSample, manifest: ModelManifest): PngPixels {
  return tensorToPixels(sample.image, {
    format: pngFormatOf(manifest),
    valueRange: manifest.image.valueRange,
    ...(manifest.image.storedRange ? { storedRange: manifest.image.storedRange } : {}),
  });
}

export function encodeSamplePng(sample: GeneratedSample, manifest: ModelManifest, pixels = samplePixels(sample, manifest)): Uint8Array {
  return encodePng(pixels, sample.record);
}
