// Loading a detector under test: a RareForge package (detector.json + ONNX) or a bare ONNX export used
// unchanged — Ultralytics YOLOv8/YOLO11 or YOLOX, told apart by the output shape (layouts.ts). Everything
// that can be wrong with it (layout, class names, class map) is checked from the file itself before a
// session is created or an image is touched. Files
// are read asynchronously, size-checked first (files.ts), and the ONNX bytes are read once: the layout
// and the sha256 come from the same bytes.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { createSession, type ExecutionProviderName, type ResolvedExecutionProvider } from "../runtime/index.ts";
import type { DecodedImage } from "../imaging/index.ts";
import { verifyPackageFiles, ModelPackageError } from "../models/index.ts";
import type { Detection } from "./boxes.ts";
import { COCO_CLASSES, defaultClassMap, normaliseClassMap, validateClassMap, type ClassMap } from "./class-map.ts";
import { DetectorPackageError } from "./errors.ts";
import { readDetectorFile } from "./files.ts";
import { detectorManifestSchema, formatIssues } from "./manifest.ts";
import { detectLayout, detectorLayout, DETECTOR_LAYOUTS, type DetectorLayout, type DetectorLayoutName } from "./layouts.ts";
import { parseUltralyticsNames, readOnnxModelInfo, type OnnxModelInfo, type OnnxValueInfo } from "./onnx-proto.ts";
import { letterbox, type ChannelOrder, type LetterboxPlacement } from "./preprocess.ts";

export interface DetectionThresholds {
  /** Minimum class score for a candidate to count (0..1). */
  readonly scoreThreshold: number;
  /** Class-wise NMS overlap above which the weaker box is dropped (0..1]. */
  readonly iouThreshold: number;
  /** IoU a detection needs with an intended object to match it (0..1]. */
  readonly matchIoU: number;
}

export interface DetectorInputSpec {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly valueRange: readonly [number, number];
  readonly letterbox: boolean;
  readonly padValue: number;
  readonly channelOrder: ChannelOrder;
  readonly placement: LetterboxPlacement;
}

/** A bare export's kind names its family. */
export type DetectorKind = "package" | "ultralytics-onnx" | "yolox-onnx";

/** The kind of a bare export of a layout. */
export function exportKindOf(layout: DetectorLayoutName): Exclude<DetectorKind, "package"> {
  return layout === "yolox" ? "yolox-onnx" : "ultralytics-onnx";
}

export interface Detector {
  readonly name: string;
  readonly version: string;
  /** "package" for detector.json, "ultralytics-onnx" or "yolox-onnx" for a bare export. */
  readonly kind: DetectorKind;
  /** How its input is prepared and its output decoded. */
  readonly layout: DetectorLayoutName;
  /** Absolute path of the ONNX file. */
  readonly onnxPath: string;
  readonly fileHashes: Readonly<Record<string, string>>;
  readonly classes: readonly string[];
  readonly classMap: ClassMap;
  /** The condition field whose value is the ground-truth class (packages only). */
  readonly classField: string | null;
  /** The diffusion package this detector is tested on (packages only). */
  readonly model: string | null;
  readonly input: DetectorInputSpec;
  readonly outputName: string;
  readonly thresholds: DetectionThresholds;
  readonly provider: ResolvedExecutionProvider;
  /** Letterbox, run, decode (per layout), NMS; boxes in the image's pixels, sorted by score. */
  detect(image: DecodedImage, thresholds?: Partial<Pick<DetectionThresholds, "scoreThreshold" | "iouThreshold">>): Promise<Detection[]>;
  dispose(): Promise<void>;
}

export interface LoadDetectorOptions {
  ep?: ExecutionProviderName;
  intraOpThreads?: number;
  /** Replaces the package's class map (each entry is checked against the detector's classes). */
  classMap?: Readonly<Record<string, string | readonly string[]>>;
  /** Class names for a bare ONNX without Ultralytics metadata (a YOLOX export without them is taken as COCO-80). */
  classes?: readonly string[];
  /** A bare ONNX's layout, instead of the one its output shape implies. */
  layout?: DetectorLayoutName;
  thresholds?: Partial<DetectionThresholds>;
  /** Largest ONNX file read, in bytes (default 512 MiB; the service passes RAREFORGE_MAX_DETECTOR_BYTES). */
  maxBytes?: number;
  log?: (message: string) => void;
}

/** What describeDetector found: everything loadDetector needs except the session. */
export interface ResolvedDescription {
  name: string;
  version: string;
  kind: DetectorKind;
  layout: DetectorLayoutName;
  onnxPath: string;
  fileHashes: Record<string, string>;
  classes: readonly string[];
  classMap: Record<string, readonly string[]>;
  classField: string | null;
  model: string | null;
  input: DetectorInputSpec;
  outputName: string;
  /** False when the graph declares the output's shape symbolically: verified by a probe run at load. */
  outputShapeDeclared: boolean;
  thresholds: DetectionThresholds;
}

const DEFAULT_THRESHOLDS: DetectionThresholds = { scoreThreshold: 0.25, iouThreshold: 0.45, matchIoU: 0.5 };

export function checkThresholds(thresholds: DetectionThresholds, source?: string): DetectionThresholds {
  const { scoreThreshold, iouThreshold, matchIoU } = thresholds;
  const bad: string[] = [];
  if (!(scoreThreshold >= 0 && scoreThreshold <= 1)) bad.push(`scoreThreshold ${scoreThreshold} (needs 0..1)`);
  if (!(iouThreshold > 0 && iouThreshold <= 1)) bad.push(`iouThreshold ${iouThreshold} (needs (0, 1])`);
  if (!(matchIoU > 0 && matchIoU <= 1)) bad.push(`matchIoU ${matchIoU} (needs (0, 1])`);
  if (bad.length > 0) throw new DetectorPackageError("invalid-threshold", `invalid detection thresholds: ${bad.join("; ")}`, source);
  return thresholds;
}

function describeShape(info: OnnxValueInfo): string {
  return info.shape ? `[${info.shape.map((d) => d.value ?? d.param ?? "?").join(", ")}]` : "(no declared shape)";
}

function checkInput(info: OnnxModelInfo, path: string, inputName: string | null): OnnxValueInfo {
  const input = inputName ? info.inputs.find((i) => i.name === inputName) : info.inputs[0];
  if (!input || (inputName === null && info.inputs.length !== 1)) {
    throw new DetectorPackageError(
      "unexpected-input-layout",
      `${path}: expected one image input${inputName ? ` named "${inputName}"` : ""}, the graph has [${info.inputs.map((i) => `${i.name} ${describeShape(i)}`).join(", ")}]`,
      path,
    );
  }
  const inputDims = input.shape;
  if (input.elemType !== 1 || !inputDims || inputDims.length !== 4 || ![1, 3].includes(inputDims[1]?.value ?? -1)) {
    throw new DetectorPackageError(
      "unexpected-input-layout",
      `${path}: input "${input.name}" must be float32 NCHW [batch, 1|3, height, width], it is ${describeShape(input)} (element type ${input.elemType})`,
      path,
    );
  }
  return input;
}

function findOutput(info: OnnxModelInfo, path: string, outputName: string | null): OnnxValueInfo {
  const output = outputName ? info.outputs.find((o) => o.name === outputName) : info.outputs[0];
  if (!output) {
    throw new DetectorPackageError("unexpected-output-layout", `${path}: no output${outputName ? ` named "${outputName}"` : ""}; outputs: ${info.outputs.map((o) => o.name).join(", ")}`, path);
  }
  return output;
}

const EITHER_LAYOUT = DETECTOR_LAYOUTS.map((name) => detectorLayout(name).outputShape).join(" or ");

/** The declared output's dims (null where symbolic), or null when it is not a float tensor of rank 3. */
function outputDims(output: OnnxValueInfo): (number | null)[] | null {
  return output.elemType === 1 && output.shape?.length === 3 ? output.shape.map((d) => d.value ?? null) : null;
}

/**
 * The declared output must be a float [batch, A, B] that fits the layout with these classes and this input
 * size (a symbolic dimension is checked by a probe run at load). Anything else — an end-to-end export with
 * NMS inside ([1, 300, 6]), a segmentation head, a transposed Ultralytics [1, N, 84] — is refused with the
 * shape it has.
 */
function checkOutput(output: OnnxValueInfo, path: string, layout: DetectorLayout | null, classCount: number, input: { width: number; height: number }): void {
  const dims = outputDims(output);
  const expected = layout ? layout.outputShape : EITHER_LAYOUT;
  if (!dims || !layout) throw new DetectorPackageError("unexpected-output-layout", `${path}: output "${output.name}" is ${describeShape(output)}, expected ${expected}`, path);
  const misfit = layout.misfit(dims, classCount, input);
  if (misfit) throw new DetectorPackageError("unexpected-output-layout", `${path}: output "${output.name}" ${describeShape(output)} has ${misfit} (${expected})`, path);
}

async function describePackage(dir: string, options: LoadDetectorOptions): Promise<ResolvedDescription> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dir, "detector.json"), "utf8"));
  } catch (error) {
    throw new DetectorPackageError("invalid-manifest", `${join(dir, "detector.json")} is not valid JSON: ${(error as Error).message}`, dir);
  }
  const parsed = detectorManifestSchema.safeParse(raw);
  if (!parsed.success) throw new DetectorPackageError("invalid-manifest", `invalid detector.json in ${dir}: ${formatIssues(parsed.error)}`, dir);
  const manifest = parsed.data;
  let fileHashes: Record<string, string>;
  try {
    fileHashes = verifyPackageFiles(dir, manifest.files);
  } catch (error) {
    if (error instanceof ModelPackageError) throw new DetectorPackageError("invalid-manifest", error.message, dir);
    throw error;
  }
  const onnxPath = join(dir, manifest.file);
  const info = readOnnxModelInfo(await readDetectorFile(onnxPath, options.maxBytes), onnxPath);
  const layout = detectorLayout(manifest.output.layout === "yolox" ? "yolox" : "ultralytics");
  const input = checkInput(info, onnxPath, manifest.input.name);
  const output = findOutput(info, onnxPath, manifest.output.name);
  checkOutput(output, onnxPath, layout, manifest.classes.length, manifest.input);
  const declaredChannels = input.shape?.[1]?.value;
  if (declaredChannels !== 3 && declaredChannels !== manifest.input.channels) {
    throw new DetectorPackageError("unexpected-input-layout", `${onnxPath}: graph input has ${declaredChannels} channels, detector.json says ${manifest.input.channels}`, dir);
  }
  const classMap = options.classMap ? normaliseClassMap(options.classMap) : normaliseClassMap(manifest.classMap);
  return {
    name: manifest.name,
    version: manifest.version,
    kind: "package",
    layout: layout.name,
    onnxPath,
    fileHashes,
    classes: manifest.classes,
    classMap,
    classField: manifest.classField ?? null,
    model: manifest.model ?? null,
    input: {
      name: manifest.input.name,
      width: manifest.input.width,
      height: manifest.input.height,
      // a gray detector input is replicated to RGB when the graph takes 3 channels ("replicate to RGB")
      channels: declaredChannels === 3 ? 3 : 1,
      valueRange: manifest.input.valueRange ?? layout.preprocess.valueRange,
      letterbox: manifest.input.letterbox,
      padValue: manifest.input.padValue ?? layout.preprocess.padValue,
      channelOrder: manifest.input.channelOrder ?? layout.preprocess.channelOrder,
      placement: layout.preprocess.placement,
    },
    outputName: output.name,
    outputShapeDeclared: outputDims(output)?.every((d) => d !== null) ?? false,
    thresholds: { ...DEFAULT_THRESHOLDS, ...manifest.defaults },
  };
}

async function describeBareOnnx(onnxPath: string, options: LoadDetectorOptions): Promise<ResolvedDescription> {
  const bytes = await readDetectorFile(onnxPath, options.maxBytes);
  const info = readOnnxModelInfo(bytes, onnxPath);
  const given = options.classes ? [...options.classes] : info.metadata.names ? parseUltralyticsNames(info.metadata.names) : null;
  const output = findOutput(info, onnxPath, null);
  const dims = outputDims(output);
  const layoutName = options.layout ?? (dims ? detectLayout(dims, given?.length ?? null) : null);
  const layout = layoutName ? detectorLayout(layoutName) : null;
  const names = given ?? (layout?.name === "yolox" && [80, null].includes(layout.classCountOf(dims ?? [])) ? [...COCO_CLASSES] : null);
  if (!names) {
    throw new DetectorPackageError(
      "no-class-names",
      `${onnxPath} carries no Ultralytics "names" metadata${layout?.name === "yolox" ? ` and its YOLOX head has ${layout.classCountOf(dims ?? [])} classes, not COCO's 80` : ""}; give the class names (options.classes / --classes) or wrap it in a detector.json package`,
      onnxPath,
    );
  }
  if (info.metadata.task && info.metadata.task !== "detect") {
    throw new DetectorPackageError("unexpected-output-layout", `${onnxPath} is an Ultralytics "${info.metadata.task}" model; only "detect" heads are supported`, onnxPath);
  }
  const input = checkInput(info, onnxPath, null);
  // Input size: the graph's fixed H, W; for a dynamic export, Ultralytics' imgsz metadata ("[640, 640]").
  const imgsz = info.metadata.imgsz?.match(/\d+/g)?.map(Number);
  const height = input.shape?.[2]?.value ?? imgsz?.[0] ?? 640;
  const width = input.shape?.[3]?.value ?? imgsz?.[1] ?? imgsz?.[0] ?? 640;
  checkOutput(output, onnxPath, layout, names.length, { width, height });
  const { preprocess } = layout!;
  const channels = input.shape?.[1]?.value === 1 ? 1 : 3;
  const classMap = options.classMap ? normaliseClassMap(options.classMap) : { ...defaultClassMap(names) };
  return {
    name: basename(onnxPath).replace(/\.onnx$/i, ""),
    version: info.metadata.version ?? "unknown",
    kind: exportKindOf(layout!.name),
    layout: layout!.name,
    onnxPath,
    fileHashes: { [basename(onnxPath)]: createHash("sha256").update(bytes).digest("hex") },
    classes: names,
    classMap,
    classField: null,
    model: null,
    input: { name: input.name, width, height, channels, letterbox: true, ...preprocess },
    outputName: output.name,
    outputShapeDeclared: dims?.every((d) => d !== null) ?? false,
    thresholds: DEFAULT_THRESHOLDS,
  };
}

/** Validates a detector without opening a session: everything loadDetector refuses, this refuses too. */
export async function describeDetector(dirOrOnnx: string, options: LoadDetectorOptions = {}): Promise<ResolvedDescription> {
  const path = resolve(dirOrOnnx);
  const stats = await stat(path).catch(() => null);
  if (!stats) throw new DetectorPackageError("not-found", `no detector at ${path}`, path);
  let description: ResolvedDescription;
  if (stats.isDirectory()) {
    if (!(await stat(join(path, "detector.json")).catch(() => null))) throw new DetectorPackageError("not-found", `${path} has no detector.json`, path);
    description = await describePackage(path, options);
  } else {
    description = await describeBareOnnx(path, options);
  }
  const classMap = validateClassMap(description.classMap, description.classes, path);
  const thresholds = checkThresholds({ ...description.thresholds, ...options.thresholds }, path);
  return { ...description, classMap: { ...classMap }, thresholds };
}

export async function loadDetector(dirOrOnnx: string, options: LoadDetectorOptions = {}): Promise<Detector> {
  return openDetector(await describeDetector(dirOrOnnx, options), options);
}

/** Opens a session for a detector describeDetector has checked (so its file is not read twice). */
export async function openDetector(d: ResolvedDescription, options: Pick<LoadDetectorOptions, "ep" | "intraOpThreads" | "log"> = {}): Promise<Detector> {
  const session = await createSession(d.onnxPath, {
    ep: options.ep ?? "cpu",
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const layout = detectorLayout(d.layout);
  const checkOutputDims = (dims: readonly number[]) => {
    const misfit = layout.misfit(dims, d.classes.length, d.input);
    if (misfit) {
      throw new DetectorPackageError("unexpected-output-layout", `${d.onnxPath} returned "${d.outputName}" [${dims.join(", ")}] with ${misfit}, expected ${layout.outputShape}`, d.onnxPath);
    }
  };
  if (!d.outputShapeDeclared) {
    try {
      const blank = new Float32Array(d.input.channels * d.input.width * d.input.height).fill(d.input.valueRange[0] + d.input.padValue * (d.input.valueRange[1] - d.input.valueRange[0]));
      const probe = await session.run({ [d.input.name]: { type: "float32", data: blank, dims: [1, d.input.channels, d.input.height, d.input.width] } });
      const output = probe[d.outputName];
      if (!output) throw new DetectorPackageError("unexpected-output-layout", `${d.onnxPath} returned no "${d.outputName}"`, d.onnxPath);
      checkOutputDims(output.dims);
    } catch (error) {
      await session.dispose();
      throw error;
    }
  }
  return {
    ...d,
    provider: session.provider,
    async detect(image, overrides = {}) {
      if (!(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * image.channels) {
        throw new DetectorPackageError("invalid-image", `image ${image.width}x${image.height}x${image.channels} has ${image.data.length} values`);
      }
      const thresholds = checkThresholds({ ...d.thresholds, ...overrides });
      const { tensor, geometry } = letterbox(image, {
        width: d.input.width,
        height: d.input.height,
        channels: d.input.channels,
        padValue: d.input.padValue,
        valueRange: d.input.valueRange,
        letterbox: d.input.letterbox,
        channelOrder: d.input.channelOrder,
        placement: d.input.placement,
      });
      const outputs = await session.run({ [d.input.name]: { type: "float32", data: tensor, dims: [1, d.input.channels, d.input.height, d.input.width] } });
      const output = outputs[d.outputName];
      if (!output) throw new DetectorPackageError("unexpected-output-layout", `${d.onnxPath} returned no "${d.outputName}"`, d.onnxPath);
      checkOutputDims(output.dims);
      return layout.decode(output.data, output.dims, d.classes, geometry, thresholds, d.input);
    },
    dispose: () => session.dispose(),
  };
}
