// Reading an export's samples a page at a time (keyset pagination on the unique (jobId, index)), so an export
// of any size holds one page of rows in memory.
import type { Database, Prisma } from "../db/index.ts";
import type { GroundTruthBox } from "../models/index.ts";

export const PAGE_SIZE = 200;

/** A file beside a sample's main artifact (medical samples: PNG preview, ground-truth JSON, DICOM SEG). */
export interface SampleFile {
  role: string;
  sha256: string;
  mediaType: string;
  byteSize: number;
}

export interface ExportSample {
  id: string;
  jobId: string;
  index: number;
  createdAt: Date;
  modelPackageId: string | null;
  parameters: Record<string, unknown>;
  boxes: GroundTruthBox[];
  /** The image's size when it is not the model's (a hazard inserted into a camera frame: the frame's). */
  image: { width: number; height: number } | null;
  artifact: { sha256: string; mediaType: string; byteSize: number };
  files: SampleFile[];
  scenario: { id: string; name: string; version: number };
  /** Only when asked for (COCO's per-image provenance, DICOM's record). */
  provenance?: Record<string, unknown>;
}

const select = (withProvenance: boolean) =>
  ({
    id: true,
    jobId: true,
    index: true,
    createdAt: true,
    modelPackageId: true,
    parameters: true,
    labels: true,
    files: true,
    provenance: withProvenance,
    artifact: { select: { sha256: true, mediaType: true, byteSize: true } },
    scenarioVersion: { select: { version: true, scenario: { select: { id: true, name: true } } } },
  }) satisfies Prisma.SampleSelect;

/** Every matching sample in (jobId, index) order, one page of rows in memory at a time. */
export async function* readSamples(db: Database, where: Prisma.SampleWhereInput, options: { withProvenance?: boolean; pageSize?: number } = {}): AsyncGenerator<ExportSample> {
  const take = options.pageSize ?? PAGE_SIZE;
  let after: { jobId: string; index: number } | undefined;
  for (;;) {
    const rows = await db.prisma.sample.findMany({
      where: after ? { AND: [where, { OR: [{ jobId: { gt: after.jobId } }, { jobId: after.jobId, index: { gt: after.index } }] }] } : where,
      orderBy: [{ jobId: "asc" }, { index: "asc" }],
      take,
      select: select(options.withProvenance ?? false),
    });
    for (const row of rows) {
      const labels = row.labels as { boxes?: GroundTruthBox[]; image?: { width: number; height: number } } | null;
      yield {
        id: row.id,
        jobId: row.jobId,
        index: row.index,
        createdAt: row.createdAt,
        modelPackageId: row.modelPackageId,
        parameters: row.parameters as Record<string, unknown>,
        boxes: Array.isArray(labels?.boxes) ? labels.boxes : [],
        image: labels?.image ?? null,
        // The filter only selects samples with an artifact.
        artifact: row.artifact!,
        files: Array.isArray(row.files) ? (row.files as unknown as SampleFile[]) : [],
        scenario: { id: row.scenarioVersion.scenario.id, name: row.scenarioVersion.scenario.name, version: row.scenarioVersion.version },
        ...(row.provenance !== undefined ? { provenance: row.provenance as Record<string, unknown> } : {}),
      };
    }
    if (rows.length < take) return;
    const last = rows.at(-1)!;
    after = { jobId: last.jobId, index: last.index };
  }
}
