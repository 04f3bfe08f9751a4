// Scenario classes (what a scenario asks for: pedestrian, animal, tumour…) -> detector classes (what a
// detector reports: person, dog…). One scenario class may be satisfied by several detector classes.
import { DetectorPackageError } from "./errors.ts";

/** Scenario class -> the detector classes that count as finding it. */
export type ClassMap = Readonly<Record<string, readonly string[]>>;

/**
 * The 80 COCO detection classes in training order (the names Ultralytics' exports embed and YOLOX's
 * yolox/data/datasets/coco_classes.py lists): the class names of an export that carries none (YOLOX).
 */
export const COCO_CLASSES: readonly string[] = [
  "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
  "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
  "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
  "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
  "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
  "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
  "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
  "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
  "teddy bear", "hair drier", "toothbrush",
];

/**
 * For COCO-trained detectors (the de-facto format users bring): the road-hazards vocabulary mapped onto
 * COCO names. `debris` and `cone` have no COCO counterpart and are absent: scoring refuses them rather
 * than counting every such sample as missed.
 */
export const COCO_CLASS_MAP: ClassMap = {
  pedestrian: ["person"],
  cyclist: ["bicycle", "person"],
  animal: ["dog", "horse", "sheep", "cow", "bear", "cat", "bird", "elephant", "zebra", "giraffe"],
  vehicle: ["car", "truck", "bus"],
};

/**
 * Checks every mapped detector class exists in the detector; throws `unknown-class` naming the offenders
 * (a typo here would silently turn every sample of that class into a miss).
 */
export function validateClassMap(classMap: Readonly<Record<string, readonly string[]>>, detectorClasses: readonly string[], source?: string): ClassMap {
  const known = new Set(detectorClasses);
  const problems: string[] = [];
  const out: Record<string, readonly string[]> = {};
  for (const [scenarioClass, targets] of Object.entries(classMap)) {
    if (targets.length === 0) problems.push(`${scenarioClass} maps to no detector class`);
    const unknown = targets.filter((t) => !known.has(t));
    if (unknown.length > 0) problems.push(`${scenarioClass} -> ${unknown.map((u) => `"${u}"`).join(", ")}`);
    out[scenarioClass] = [...targets];
  }
  if (problems.length > 0) {
    throw new DetectorPackageError(
      "unknown-class",
      `class map names classes the detector does not have: ${problems.join("; ")} (detector classes: ${detectorClasses.join(", ")})`,
      source,
    );
  }
  return out;
}

/** Accepts "a" or ["a", "b"] per entry (detector.json uses single names; users may give lists). */
export function normaliseClassMap(input: Readonly<Record<string, string | readonly string[]>>): Record<string, readonly string[]> {
  return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, typeof v === "string" ? [v] : [...v]]));
}

/**
 * The class map a bare COCO-style ONNX gets: every detector class maps to itself (so "person" works as an
 * expectation), plus the COCO_CLASS_MAP entries restricted to classes the detector has.
 */
export function defaultClassMap(detectorClasses: readonly string[]): ClassMap {
  const known = new Set(detectorClasses);
  const out: Record<string, readonly string[]> = {};
  for (const name of detectorClasses) out[name] = [name];
  for (const [scenarioClass, targets] of Object.entries(COCO_CLASS_MAP)) {
    const present = targets.filter((t) => known.has(t));
    if (present.length > 0 && !(scenarioClass in out)) out[scenarioClass] = present;
  }
  return out;
}

/** Parses "pedestrian=person,cyclist=bicycle|person" (the CLI form). */
export function parseClassMapArgument(text: string): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [scenarioClass, targets] = part.split("=");
    if (!scenarioClass || !targets) throw new DetectorPackageError("unknown-class", `class map entry "${part}" is not scenarioClass=detectorClass[|detectorClass…]`);
    out[scenarioClass.trim()] = targets.split("|").map((t) => t.trim()).filter(Boolean);
  }
  return out;
}
