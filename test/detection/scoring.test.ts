import { describe, expect, it } from "vitest";
import { COCO_CLASS_MAP, scoreSample, ScoringInputError, type Detection } from "../../src/detection/index.ts";

const person = (score: number, x: number, y = 100, width = 40, height = 100): Detection => ({ class: "person", classIndex: 0, score, box: { x, y, width, height } });
const dog = (score: number, x: number): Detection => ({ class: "dog", classIndex: 16, score, box: { x, y: 100, width: 40, height: 100 } });
const pedestrianAt = (x: number) => ({ class: "pedestrian", x, y: 100, width: 40, height: 100 });

describe("scoreSample", () => {
  it("HIT when a mapped class overlaps enough; confidence is the matched score; the rest are false positives", () => {
    const score = scoreSample({
      intended: [pedestrianAt(100)],
      detections: [person(0.4, 102), person(0.9, 104), dog(0.7, 400)],
      classMap: COCO_CLASS_MAP,
      matchIoU: 0.5,
    });
    expect(score.outcome).toBe("HIT");
    expect(score.confidence).toBe(0.9);
    expect(score.objects[0]!.detection!.score).toBe(0.9);
    // the weaker duplicate person on the same pedestrian is accepted by the map, not a false positive
    expect(score.falsePositives.map((d) => d.class)).toEqual(["dog"]);
  });

  it("WRONG_CLASS when only an unmapped class overlaps, MISS when nothing overlaps enough", () => {
    const wrong = scoreSample({ intended: [pedestrianAt(100)], detections: [dog(0.8, 101)], classMap: COCO_CLASS_MAP, matchIoU: 0.5 });
    expect(wrong.outcome).toBe("WRONG_CLASS");
    expect(wrong.confidence).toBe(0);
    expect(wrong.falsePositives).toEqual([]);
    // IoU of [100,140] vs [125,165] (same height) is 15/65 < 0.5
    const missed = scoreSample({ intended: [pedestrianAt(100)], detections: [person(0.9, 125)], classMap: COCO_CLASS_MAP, matchIoU: 0.5 });
    expect(missed.outcome).toBe("MISS");
    expect(missed.falsePositives).toHaveLength(1);
  });

  it("matches one detection to at most one object; the worst object decides the sample", () => {
    const score = scoreSample({
      intended: [pedestrianAt(100), pedestrianAt(300)],
      detections: [person(0.95, 101)],
      classMap: COCO_CLASS_MAP,
      matchIoU: 0.5,
    });
    expect(score.objects.map((o) => o.outcome)).toEqual(["HIT", "MISS"]);
    expect(score.outcome).toBe("MISS");
    expect(score.confidence).toBe(0);
  });

  it("a cyclist is found as a bicycle or a person", () => {
    const bicycle: Detection = { class: "bicycle", classIndex: 1, score: 0.6, box: { x: 100, y: 100, width: 40, height: 100 } };
    const score = scoreSample({ intended: [{ class: "cyclist", x: 100, y: 100, width: 40, height: 100 }], detections: [bicycle, person(0.5, 100)], classMap: COCO_CLASS_MAP, matchIoU: 0.5 });
    expect(score.outcome).toBe("HIT");
    expect(score.confidence).toBe(0.6);
    expect(score.falsePositives).toEqual([]);
    // the second detection describes the same object: reported with that object's index, so stored rows can say so
    expect(score.duplicates).toEqual([{ detection: person(0.5, 100), index: 0, iou: 1 }]);
  });

  it("a sample with nothing intended is a HIT with every detection a false positive", () => {
    const score = scoreSample({ intended: [], detections: [person(0.9, 10)], classMap: COCO_CLASS_MAP, matchIoU: 0.5 });
    expect(score).toMatchObject({ outcome: "HIT", confidence: null });
    expect(score.falsePositives).toHaveLength(1);
  });

  it("refuses an intended class the map does not cover, and malformed boxes or thresholds", () => {
    expect(() => scoreSample({ intended: [{ class: "cone", x: 0, y: 0, width: 5, height: 5 }], detections: [], classMap: COCO_CLASS_MAP, matchIoU: 0.5 })).toThrow(
      ScoringInputError,
    );
    expect(() => scoreSample({ intended: [{ ...pedestrianAt(0), width: -1 }], detections: [], classMap: COCO_CLASS_MAP, matchIoU: 0.5 })).toThrow(ScoringInputError);
    expect(() => scoreSample({ intended: [], detections: [], classMap: COCO_CLASS_MAP, matchIoU: 0 })).toThrow(ScoringInputError);
  });
});
