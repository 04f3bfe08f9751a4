// Scoring one sample: did the detector find what the sample was generated to contain? Pure function of the
// intended objects (ground truth from the drawn parameters), the detections and the class map.
import { iou, type Detection, type PixelBox } from "./boxes.ts";
import type { ClassMap } from "./class-map.ts";
import { ScoringInputError } from "./errors.ts";

/** What the sample was generated to show, in scenario vocabulary and image pixels (e.g. a GroundTruthBox). */
export interface IntendedObject {
  readonly class: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * HIT: found as a mapped class at IoU >= matchIoU. WRONG_CLASS: something overlaps it enough but as a class
 * the map does not accept. MISS: nothing overlaps it enough.
 */
export const OUTCOMES = ["HIT", "MISS", "WRONG_CLASS"] as const;

/**
 * What counts as a miss everywhere (miss rates, failure searches, "misses only" exports): the intended
 * object was not found, or found as a class the map does not accept. INVALID is never a miss.
 */
export const MISS_OUTCOMES = ["MISS", "WRONG_CLASS"] as const;
export type MissOutcome = (typeof MISS_OUTCOMES)[number];
export const isMiss = (outcome: string): outcome is MissOutcome => (MISS_OUTCOMES as readonly string[]).includes(outcome);
export type Outcome = (typeof OUTCOMES)[number];

export interface ObjectScore {
  readonly object: IntendedObject;
  readonly outcome: Outcome;
  /** The detection matched to it (HIT), or the best-overlapping wrong-class one (WRONG_CLASS). */
  readonly detection: Detection | null;
  readonly iou: number;
  /** Score of the matched detection; 0 when not found as its class. */
  readonly confidence: number;
}

export interface SampleScore {
  /** Worst object outcome: MISS before WRONG_CLASS before HIT. A sample with no intended object is a HIT (nothing to miss). */
  readonly outcome: Outcome;
  readonly objects: readonly ObjectScore[];
  /** Detections that explain no intended object. */
  readonly falsePositives: readonly Detection[];
  /** Further detections of an intended object the class map accepts (a vehicle seen as car and bus): the object's index and overlap. */
  readonly duplicates: readonly { readonly detection: Detection; readonly index: number; readonly iou: number }[];
  /** The weakest object's best-match confidence (0 if any was not found as its class); null with no intended object. */
  readonly confidence: number | null;
}

export interface ScoreSampleInput {
  readonly intended: readonly IntendedObject[];
  readonly detections: readonly Detection[];
  readonly classMap: ClassMap;
  /** IoU a detection needs to match an intended object (detector.json defaults.matchIoU, usually 0.5). */
  readonly matchIoU: number;
}

function checkBox(box: PixelBox, what: string): void {
  if (![box.x, box.y, box.width, box.height].every(Number.isFinite) || box.width < 0 || box.height < 0) {
    throw new ScoringInputError(`${what} has an invalid box (x ${box.x}, y ${box.y}, width ${box.width}, height ${box.height})`);
  }
}

/**
 * Greedy one-to-one matching in descending detection score (as COCO evaluation does): each detection can
 * confirm at most one intended object, and each object takes the best-scoring acceptable detection.
 */
export function scoreSample({ intended, detections, classMap, matchIoU }: ScoreSampleInput): SampleScore {
  if (!(matchIoU > 0 && matchIoU <= 1)) throw new ScoringInputError(`matchIoU must be in (0, 1], got ${matchIoU}`);
  intended.forEach((o, i) => {
    checkBox(o, `intended object ${i} (${o.class})`);
    if (!classMap[o.class]) {
      throw new ScoringInputError(
        `intended class "${o.class}" is not in the class map, so this detector cannot be scored on it (mapped: ${Object.keys(classMap).join(", ")})`,
      );
    }
  });
  detections.forEach((d, i) => checkBox(d.box, `detection ${i} (${d.class})`));

  const accepts = (o: IntendedObject, d: Detection) => (classMap[o.class] ?? []).includes(d.class);
  const byScore = [...detections].sort((a, b) => b.score - a.score);
  const matched = new Map<IntendedObject, { detection: Detection; iou: number }>();
  const used = new Set<Detection>();
  for (const detection of byScore) {
    let best: IntendedObject | null = null;
    let bestIoU = matchIoU;
    for (const object of intended) {
      if (matched.has(object) || !accepts(object, detection)) continue;
      const overlap = iou(object, detection.box);
      if (overlap >= bestIoU) {
        best = object;
        bestIoU = overlap;
      }
    }
    if (best) {
      matched.set(best, { detection, iou: bestIoU });
      used.add(detection);
    }
  }

  const objects: ObjectScore[] = intended.map((object) => {
    const match = matched.get(object);
    if (match) return { object, outcome: "HIT", detection: match.detection, iou: match.iou, confidence: match.detection.score };
    let wrong: Detection | null = null;
    let wrongIoU = 0;
    for (const d of detections) {
      const overlap = iou(object, d.box);
      if (overlap >= matchIoU && overlap > wrongIoU && !accepts(object, d)) {
        wrong = d;
        wrongIoU = overlap;
      }
    }
    return wrong
      ? { object, outcome: "WRONG_CLASS", detection: wrong, iou: wrongIoU, confidence: 0 }
      : { object, outcome: "MISS", detection: null, iou: 0, confidence: 0 };
  });
  for (const o of objects) if (o.outcome === "WRONG_CLASS" && o.detection) used.add(o.detection);

  // A second accepted detection on the same object (a cyclist seen as bicycle AND person) is not a false
  // positive: the class map says both describe it.
  const duplicates: { detection: Detection; index: number; iou: number }[] = [];
  const falsePositives: Detection[] = [];
  for (const d of detections) {
    if (used.has(d)) continue;
    let best: { detection: Detection; index: number; iou: number } | null = null;
    for (const [index, o] of intended.entries()) {
      const overlap = iou(o, d.box);
      if (accepts(o, d) && overlap >= matchIoU && overlap > (best?.iou ?? 0)) best = { detection: d, index, iou: overlap };
    }
    if (best) duplicates.push(best);
    else falsePositives.push(d);
  }
  const outcome: Outcome = objects.some((o) => o.outcome === "MISS") ? "MISS" : objects.some((o) => o.outcome === "WRONG_CLASS") ? "WRONG_CLASS" : "HIT";
  const confidence = objects.length === 0 ? null : Math.min(...objects.map((o) => o.confidence));
  return { outcome, objects, falsePositives, duplicates, confidence };
}
