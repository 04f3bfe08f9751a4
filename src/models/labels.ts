// Ground-truth labels that follow from the drawn condition parameters, as the manifest's `labels` rules say.
import { assertParametersFit, type ScenarioParameters } from "./condition.ts";
import type { ModelManifest } from "./manifest.ts";

/** A labelled box in pixels of the output image (top-left x, y; width, height), plus fractions as drawn. */
export interface GroundTruthBox {
  readonly class: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Centre and size as fractions of the image width/height (the condition's own units). */
  readonly fraction: { readonly cx: number; readonly cy: number; readonly w: number; readonly h: number };
}

/** A binary mask (1 inside) of the image's size, row-major. */
export interface GroundTruthMask {
  readonly class: string;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface GroundTruth {
  readonly boxes: GroundTruthBox[];
  readonly masks: GroundTruthMask[];
}

export function deriveLabels(manifest: ModelManifest, parameters: ScenarioParameters): GroundTruth {
  assertParametersFit(manifest, parameters);
  const { width: imageWidth, height: imageHeight } = manifest.image;
  const boxes: GroundTruthBox[] = [];
  const masks: GroundTruthMask[] = [];
  const num = (name: string) => parameters[name] as number;
  for (const rule of manifest.labels) {
    const cls = String(parameters[rule.class]);
    if (rule.absentWhen.includes(cls)) continue;
    if (rule.kind === "box") {
      const fraction = { cx: num(rule.cx), cy: num(rule.cy), w: num(rule.w), h: num(rule.h) };
      boxes.push({
        class: cls,
        x: (fraction.cx - fraction.w / 2) * imageWidth,
        y: (fraction.cy - fraction.h / 2) * imageHeight,
        width: fraction.w * imageWidth,
        height: fraction.h * imageHeight,
        fraction,
      });
    } else {
      // circle: centre as fractions of width/height, radius as a fraction of the width (docs/model-package.md)
      const cx = num(rule.cx) * imageWidth;
      const cy = num(rule.cy) * imageHeight;
      const radius = num(rule.radius) * imageWidth;
      boxes.push({
        class: cls,
        x: cx - radius,
        y: cy - radius,
        width: 2 * radius,
        height: 2 * radius,
        fraction: { cx: num(rule.cx), cy: num(rule.cy), w: (2 * radius) / imageWidth, h: (2 * radius) / imageHeight },
      });
      if (rule.mask) {
        const data = new Uint8Array(imageWidth * imageHeight);
        for (let y = 0; y < imageHeight; y++) {
          for (let x = 0; x < imageWidth; x++) {
            // pixel centres at (x + 0.5, y + 0.5)
            const dx = x + 0.5 - cx;
            const dy = y + 0.5 - cy;
            if (dx * dx + dy * dy <= radius * radius) data[y * imageWidth + x] = 1;
          }
        }
        masks.push({ class: cls, width: imageWidth, height: imageHeight, data });
      }
    }
  }
  return { boxes, masks };
}

/** A circle the condition asks for, in the condition's units: centre as fractions of width and height, radius as a fraction of the width. */
export interface ConditionCircle {
  label: string;
  cx: number;
  cy: number;
  radius: number;
}

/** The circles (lesions) the drawn parameters ask for, from the manifest's circle label rules (absent classes skipped). */
export function conditionCircles(manifest: ModelManifest, parameters: ScenarioParameters): ConditionCircle[] {
  const circles: ConditionCircle[] = [];
  for (const rule of manifest.labels) {
    if (rule.kind !== "circle") continue;
    const label = String(parameters[rule.class]);
    if (rule.absentWhen.includes(label)) continue;
    circles.push({ label, cx: Number(parameters[rule.cx]), cy: Number(parameters[rule.cy]), radius: Number(parameters[rule.radius]) });
  }
  return circles;
}
