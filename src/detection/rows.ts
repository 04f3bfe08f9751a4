// The one scoring path from images to stored rows, used by the worker (a batch it has just generated,
// scored from its pixels in memory) and by scoreSamples (samples already stored): open the registered
// detector and the model's critic, judge and detect, and write each sample's Score and Detections.
import type { Prisma } from "../db/index.ts";
import type { DetectorPackage } from "../generated/prisma/client.ts";
import type { DecodedImage } from "../imaging/index.ts";
import { scoreImages, type DetectorRecord, type DetectorSource, type RealismGate, type SampleVerdict, type ScoringItem, type ScoringSessions } from "./in-the-loop.ts";

/** The loader's view of a DetectorPackage row. */
export function detectorRecordOf(row: Pick<DetectorPackage, "name" | "version" | "manifest" | "fileHashes" | "classMap">): DetectorRecord {
  return {
    name: row.name,
    version: row.version,
    source: (row.manifest as { source: DetectorSource }).source,
    fileHashes: row.fileHashes as Record<string, string>,
    classMap: row.classMap as Record<string, string[]>,
  };
}

/** Scores images of one model's samples with a registered detector (sessions kept open in `sessions`). */
export async function scoreWithDetector(
  sessions: ScoringSessions,
  detector: Pick<DetectorPackage, "id" | "name" | "version" | "manifest" | "fileHashes" | "classMap">,
  modelName: string,
  gate: RealismGate,
  items: readonly ScoringItem[],
): Promise<SampleVerdict[]> {
  const session = await sessions.get(detector.id, detectorRecordOf(detector), modelName);
  return scoreImages(session.detector, session.critic, gate, items);
}

/** A detection as a frame's "before" records it (frame pixels). */
export interface FrameDetection {
  className: string;
  confidence: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * What a registered detector sees in untouched camera frames (the "before" of frame samples), written once per
 * (frame, detector): frames already scored are skipped, and a concurrent writer's row wins (skipDuplicates).
 */
export async function scoreUntouchedFrames(
  sessions: ScoringSessions,
  detector: Pick<DetectorPackage, "id" | "name" | "version" | "manifest" | "fileHashes" | "classMap">,
  modelName: string,
  prisma: Prisma.TransactionClient,
  frames: readonly { referenceScanId: string; image: () => Promise<DecodedImage> }[],
): Promise<number> {
  const done = new Set((await prisma.frameScore.findMany({ where: { detectorPackageId: detector.id, referenceScanId: { in: frames.map((f) => f.referenceScanId) } }, select: { referenceScanId: true } })).map((f) => f.referenceScanId));
  const pending = frames.filter((f) => !done.has(f.referenceScanId));
  if (pending.length === 0) return 0;
  const session = await sessions.get(detector.id, detectorRecordOf(detector), modelName);
  const rows: Prisma.FrameScoreCreateManyInput[] = [];
  for (const frame of pending) {
    const detections: FrameDetection[] = (await session.detector.detect(await frame.image())).map((d) => ({ className: d.class, confidence: d.score, x1: d.box.x, y1: d.box.y, x2: d.box.x + d.box.width, y2: d.box.y + d.box.height }));
    rows.push({ referenceScanId: frame.referenceScanId, detectorPackageId: detector.id, detections: detections as unknown as Prisma.InputJsonValue });
  }
  return (await prisma.frameScore.createMany({ data: rows, skipDuplicates: true })).count;
}

/** One Score row from a verdict (INVALID keeps the detector's own outcome in realismDetails). */
function scoreRow(sampleId: string, detectorPackageId: string, verdict: SampleVerdict): Prisma.ScoreCreateManyInput {
  return {
    sampleId,
    detectorPackageId,
    outcome: verdict.outcome,
    confidence: verdict.confidence,
    iou: verdict.iou,
    falsePositives: verdict.falsePositives,
    realismValid: verdict.realismValid,
    realismDetails: { detectorOutcome: verdict.detectorOutcome, ...(verdict.realismDetails ?? { critic: null }) } as Prisma.InputJsonValue,
  };
}

/** Writes the Scores and Detections of scored samples inside the caller's transaction. */
export async function writeScores(tx: Prisma.TransactionClient, detectorPackageId: string, scored: readonly { sampleId: string; verdict: SampleVerdict }[]): Promise<void> {
  if (scored.length === 0) return;
  await tx.score.createMany({ data: scored.map(({ sampleId, verdict }) => scoreRow(sampleId, detectorPackageId, verdict)) });
  await tx.detection.createMany({ data: scored.flatMap(({ sampleId, verdict }) => verdict.detections.map((d) => ({ ...d, sampleId, detectorPackageId }))) });
}
