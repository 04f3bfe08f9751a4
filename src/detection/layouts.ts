// Detector layouts: how a family of exports wants its input prepared and how its output is decoded, behind
// one interface, so loading, probing and detect() do not care which family a file belongs to.
// - "ultralytics": YOLOv8/11 exports, input RGB 0..1 letterboxed in the centre (pad 114/255), output
//   [batch, 4 + classes, candidates]; class names in the export's metadata.
// - "yolox": Megvii YOLOX exports, input BGR 0..255 letterboxed into the top-left corner (pad 114), output
//   [batch, candidates, 5 + classes] over strides 8/16/32; no metadata, COCO-trained by default.
// A bare export's layout follows from its output shape (detectLayout); a package or a registration may
// name it instead.
import type { Detection } from "./boxes.ts";
import { DetectorPackageError } from "./errors.ts";
import { decodeYoloOutput, decodeYoloxOutput, yoloxCandidateCount, type DecodeOptions } from "./postprocess.ts";
import { ULTRALYTICS_PAD_VALUE, type ChannelOrder, type LetterboxGeometry, type LetterboxPlacement } from "./preprocess.ts";

export const DETECTOR_LAYOUTS = ["ultralytics", "yolox"] as const;
export type DetectorLayoutName = (typeof DETECTOR_LAYOUTS)[number];

export interface DetectorLayout {
  readonly name: DetectorLayoutName;
  /** What its exports expect at the input (a package's manifest may set valueRange and padValue itself). */
  readonly preprocess: {
    readonly channelOrder: ChannelOrder;
    readonly valueRange: readonly [number, number];
    /** In 0..1 image units. */
    readonly padValue: number;
    readonly placement: LetterboxPlacement;
  };
  /** The output shape in words, for refusals. */
  readonly outputShape: string;
  /** The class count an output shape [B, A, B'] implies (null when that dimension is symbolic). */
  classCountOf(dims: readonly (number | null)[]): number | null;
  /** Why output dims do not fit this layout with these classes and this input, or null when they do. */
  misfit(dims: readonly (number | null)[], classCount: number, input: { readonly width: number; readonly height: number }): string | null;
  decode(data: Float32Array, dims: readonly number[], classes: readonly string[], geometry: LetterboxGeometry, options: DecodeOptions, input: { readonly width: number; readonly height: number }): Detection[];
}

const ultralytics: DetectorLayout = {
  name: "ultralytics",
  preprocess: { channelOrder: "rgb", valueRange: [0, 1], padValue: ULTRALYTICS_PAD_VALUE, placement: "centre" },
  outputShape: "the Ultralytics YOLOv8/11 layout [batch, 4 + classes, candidates] (export with nms=False, end2end=False)",
  classCountOf: (dims) => (dims[1] != null ? dims[1] - 4 : null),
  misfit(dims, classCount) {
    if (dims.length !== 3) return `${dims.length} dimensions`;
    const rows = dims[1];
    if (rows != null && rows !== 4 + classCount) return `${rows} rows but ${classCount} classes need 4 + ${classCount} = ${4 + classCount}`;
    return null;
  },
  decode: (data, dims, classes, geometry, options) => decodeYoloOutput(data, dims, classes, geometry, options),
};

const yolox: DetectorLayout = {
  name: "yolox",
  preprocess: { channelOrder: "bgr", valueRange: [0, 255], padValue: 114 / 255, placement: "top-left" },
  outputShape: "the YOLOX layout [batch, grid points of strides 8/16/32, 5 + classes] (exported with decode_in_inference=False)",
  classCountOf: (dims) => (dims[2] != null ? dims[2] - 5 : null),
  misfit(dims, classCount, input) {
    if (dims.length !== 3) return `${dims.length} dimensions`;
    const [, points, columns] = dims;
    if (columns != null && columns !== 5 + classCount) return `${columns} columns but ${classCount} classes need 5 + ${classCount} = ${5 + classCount}`;
    const expected = yoloxCandidateCount(input.width, input.height);
    if (points != null && points !== expected) return `${points} candidates but a ${input.width}x${input.height} input has ${expected} grid points over strides 8, 16, 32`;
    return null;
  },
  decode: decodeYoloxOutput,
};

const LAYOUTS: Readonly<Record<DetectorLayoutName, DetectorLayout>> = { ultralytics, yolox };

export function detectorLayout(name: DetectorLayoutName): DetectorLayout {
  return LAYOUTS[name];
}

/** A layout name from a manifest or a request; anything else throws, listing the allowed ones. */
export function parseLayoutName(value: string, source?: string): DetectorLayoutName {
  if ((DETECTOR_LAYOUTS as readonly string[]).includes(value)) return value as DetectorLayoutName;
  throw new DetectorPackageError("unexpected-output-layout", `unknown detector layout "${value}" (one of: ${DETECTOR_LAYOUTS.join(", ")})`, source);
}

/**
 * Which layout an output shape [batch, A, B] is, or null when it is neither. With the class count known,
 * the class dimension decides (4 + C rows: Ultralytics; 5 + C columns: YOLOX). Without it, the candidates
 * are the longer axis (thousands, against tens of classes); a symbolic axis is taken to be the candidates,
 * and with both symbolic the Ultralytics default stands (the probe run at load then checks it).
 */
export function detectLayout(dims: readonly (number | null)[], classCount: number | null): DetectorLayoutName | null {
  if (dims.length !== 3) return null;
  const [, a, b] = dims;
  if (classCount !== null) {
    if (a === 4 + classCount) return "ultralytics";
    if (b === 5 + classCount) return "yolox";
    return a == null && b == null ? "ultralytics" : null;
  }
  if (a != null && b != null) return a < b ? (a > 4 ? "ultralytics" : null) : b > 5 ? "yolox" : null;
  if (a == null && b != null) return b > 5 ? "yolox" : null;
  if (a != null) return a > 4 ? "ultralytics" : null;
  return "ultralytics";
}
