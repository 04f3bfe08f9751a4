// `rareforge score`: run a detector (RareForge package or a bare Ultralytics or YOLOX ONNX) on one image, print its
// detections and, given the objects the image should show, the sample's outcome (HIT / MISS / WRONG_CLASS).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  fractionToPixelBox,
  loadDetector,
  parseClassMapArgument,
  parseLayoutName,
  scoreSample,
  ScoringInputError,
  type Detection,
  type IntendedObject,
  type SampleScore,
} from "../detection/index.ts";
import { decodeImage } from "../imaging/index.ts";
import { parseExecutionProvider, type ExecutionProviderName } from "../runtime/index.ts";

export interface ScoreOptions {
  detector: string;
  image: string;
  /** "class:cx,cy,w,h" with centre and size as fractions of the image (the condition's units). */
  expect?: readonly string[];
  classMap?: string;
  classes?: string;
  /** ultralytics | yolox; default: from the output shape. */
  layout?: string;
  scoreThreshold?: number;
  iouThreshold?: number;
  matchIoU?: number;
  ep?: ExecutionProviderName;
  threads?: number;
  log?: (message: string) => void;
}

export interface ScoreReport {
  detector: { name: string; version: string; kind: string; provider: string };
  image: { path: string; width: number; height: number };
  detections: Detection[];
  score: SampleScore | null;
}

/** Parses "pedestrian:0.5,0.6,0.1,0.3" into a class and a centre/size box in image fractions. */
export function parseExpectation(text: string, imageWidth: number, imageHeight: number): IntendedObject {
  const match = /^([^:]+):\s*([^,]+),([^,]+),([^,]+),([^,]+)$/.exec(text.trim());
  const numbers = match ? match.slice(2, 6).map(Number) : [];
  if (!match || numbers.some((n) => !Number.isFinite(n) || n < 0 || n > 1) || (numbers[2] as number) <= 0 || (numbers[3] as number) <= 0) {
    throw new ScoringInputError(`--expect "${text}" is not class:cx,cy,w,h with centre and size as fractions of the image in 0..1`);
  }
  const [cx, cy, w, h] = numbers as [number, number, number, number];
  return { class: (match[1] as string).trim(), ...fractionToPixelBox({ cx, cy, w, h }, imageWidth, imageHeight) };
}

export async function runScore(options: ScoreOptions): Promise<ScoreReport> {
  // refuse unreadable images and malformed expectations before loading the model
  const image = decodeImage(new Uint8Array(readFileSync(options.image)), options.image);
  const intended = (options.expect ?? []).map((e) => parseExpectation(e, image.width, image.height));
  const thresholds = {
    ...(options.scoreThreshold !== undefined ? { scoreThreshold: options.scoreThreshold } : {}),
    ...(options.iouThreshold !== undefined ? { iouThreshold: options.iouThreshold } : {}),
    ...(options.matchIoU !== undefined ? { matchIoU: options.matchIoU } : {}),
  };
  const detector = await loadDetector(options.detector, {
    ep: options.ep ?? "cpu",
    thresholds,
    ...(options.classMap ? { classMap: parseClassMapArgument(options.classMap) } : {}),
    ...(options.classes ? { classes: options.classes.split(",").map((c) => c.trim()) } : {}),
    ...(options.layout ? { layout: parseLayoutName(options.layout, options.detector) } : {}),
    ...(options.threads !== undefined ? { intraOpThreads: options.threads } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  try {
    const detections = await detector.detect(image);
    const score = intended.length > 0 ? scoreSample({ intended, detections, classMap: detector.classMap, matchIoU: detector.thresholds.matchIoU }) : null;
    return {
      detector: { name: detector.name, version: detector.version, kind: detector.kind, provider: detector.provider },
      image: { path: options.image, width: image.width, height: image.height },
      detections,
      score,
    };
  } finally {
    await detector.dispose();
  }
}

const box = (b: Detection["box"]) => `[${[b.x, b.y, b.x + b.width, b.y + b.height].map((v) => v.toFixed(1)).join(", ")}]`;

export function formatScoreReport(report: ScoreReport): string {
  const lines = [
    `detector ${report.detector.name} ${report.detector.version} (${report.detector.kind}) on ${report.detector.provider}`,
    `image ${report.image.path} ${report.image.width}x${report.image.height}: ${report.detections.length} detections`,
    ...report.detections.map((d) => `  ${d.class.padEnd(14)} ${d.score.toFixed(3)}  x1,y1,x2,y2 ${box(d.box)}`),
  ];
  if (report.score) {
    lines.push(`outcome ${report.score.outcome}${report.score.confidence !== null ? ` (confidence ${report.score.confidence.toFixed(3)})` : ""}`);
    for (const o of report.score.objects) {
      lines.push(
        `  expected ${o.object.class} ${box(o.object)}: ${o.outcome}` +
          (o.detection ? ` by ${o.detection.class} ${o.detection.score.toFixed(3)} at IoU ${o.iou.toFixed(2)}` : ""),
      );
    }
    lines.push(`false positives: ${report.score.falsePositives.length}`);
  }
  return `${lines.join("\n")}\n`;
}

function numberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${value}"`);
    return n;
  };
}

export function registerScoreCommand(program: Command): void {
  program
    .command("score")
    .description("run a detector on an image and score it against the objects the image should show")
    .requiredOption("--detector <dir|onnx>", "a detector package (detector.json) or an Ultralytics YOLOv8/11 or YOLOX ONNX export")
    .requiredOption("--image <png|jpg>", "the image to score")
    .option("--expect <class:cx,cy,w,h>", "an intended object, box as fractions of the image (repeatable)", (v: string, all: string[]) => [...all, v], [] as string[])
    .option("--class-map <map>", 'scenario -> detector classes, e.g. "pedestrian=person,cyclist=bicycle|person"')
    .option("--classes <names>", "comma-separated class names for an ONNX without Ultralytics metadata (YOLOX default: COCO's 80)")
    .option("--layout <layout>", "ultralytics | yolox (default: from the output shape)")
    .option("--score-threshold <s>", "minimum class score (0..1)", numberOption("score-threshold"))
    .option("--iou-threshold <t>", "class-wise NMS IoU (0..1]", numberOption("iou-threshold"))
    .option("--match-iou <t>", "IoU to match an intended object (0..1]", numberOption("match-iou"))
    .option("--ep <provider>", "execution provider: cpu | cuda | webgpu | auto", "cpu")
    .option("--threads <n>", "onnxruntime intra-op threads (0 = one per core)", numberOption("threads"))
    .option("--json", "print the report as JSON")
    .action(async (raw: Record<string, unknown>) => {
      try {
        const report = await runScore({ ...(raw as unknown as ScoreOptions), ep: parseExecutionProvider(String(raw.ep)) });
        process.stdout.write(raw.json ? `${JSON.stringify(report, null, 2)}\n` : formatScoreReport(report));
      } catch (error) {
        process.stderr.write(`rareforge score: ${(error as Error).name}: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
