// Creating an export (validate, count, check the format fits the samples; a refusal writes nothing) and
// streaming it as a zip to any writable (an HTTP response, a file), recording progress on its row.
import type { Writable } from "node:stream";
import type { Database } from "../db/index.ts";
import type { DatasetExport } from "../generated/prisma/client.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { ArtifactStore } from "../storage/index.ts";
import { currentCaller, DOMAINS, type Domain } from "../access/index.ts";
import { parseExportFilter, sampleWhere, type ExportFilter } from "./filter.ts";
import { EXPORT_FORMATS, FORMAT_WRITERS, type ExportContext, type ExportFormat } from "./formats.ts";
import { loadExportModels, unionClasses } from "./models.ts";
import { parseSplit, SPLITS, type SplitName, type SplitSpec } from "./split.ts";
import { ZipWriter } from "./zip.ts";

export interface ExportRequest {
  filter?: unknown;
  format: string;
  split?: Partial<SplitSpec> | null;
}

/** How often (at most) a streaming export writes its progress to its row. */
const PROGRESS_INTERVAL_MS = 250;

function parseFormat(format: string): ExportFormat {
  const upper = format.toUpperCase();
  if (!(EXPORT_FORMATS as readonly string[]).includes(upper))
    throw new ValidationError([{ path: "format", message: `unknown format "${format}"; allowed: ${EXPORT_FORMATS.map((f) => f.toLowerCase()).join(", ")}` }], "invalid export");
  return upper as ExportFormat;
}

/** Models behind the samples of a filter, checked against the format: DICOM exports take medical samples only. */
async function modelsOf(db: Database, where: ReturnType<typeof sampleWhere>, format: ExportFormat) {
  const distinct = await db.prisma.sample.findMany({ where, distinct: ["modelPackageId"], select: { modelPackageId: true } });
  if (distinct.some((d) => d.modelPackageId === null))
    throw new ValidationError([{ path: "filter", message: "some selected samples have no model package, so their classes and image size are unknown" }], "invalid export");
  const models = await loadExportModels(db, distinct.map((d) => d.modelPackageId!));
  if (format === "DICOM") {
    const automotive = [...models.values()].filter((m) => m.domain !== "MEDICAL");
    if (automotive.length > 0)
      throw new ValidationError(
        [{ path: "format", message: `dicom exports take medical samples only; the filter selects samples of ${automotive.map((m) => `${m.name} (${m.domain.toLowerCase()})`).join(", ")}` }],
        "invalid export",
      );
  }
  return models;
}

/** Validates and records an export. Nothing is written when the filter, format or split is refused. */
export async function createExport(db: Database, request: ExportRequest): Promise<DatasetExport> {
  const issues: ValidationError[] = [];
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (error instanceof ValidationError) return void issues.push(error);
      throw error;
    }
  };
  const format = attempt(() => parseFormat(request.format));
  const filter = attempt(() => parseExportFilter(request.filter));
  const split = attempt(() => parseSplit(request.split));
  if (issues.length > 0 || !format || !filter || !split) throw new ValidationError(issues.flatMap((e) => e.issues), "invalid export");

  if (filter.jobId && !(await db.prisma.generationJob.findUnique({ where: { id: filter.jobId }, select: { id: true } }))) throw new NotFoundError("job", filter.jobId);
  if (filter.scenarioId && !(await db.prisma.scenario.findUnique({ where: { id: filter.scenarioId }, select: { id: true } }))) throw new NotFoundError("scenario", filter.scenarioId);

  const createdAt = new Date();
  // the export holds samples its creator can see, and only keys that see every domain among them see it
  const caller = currentCaller();
  const domains: Domain[] = [];
  for (const domain of DOMAINS.filter((d) => !caller || caller.scopes.has(d)))
    if (await db.prisma.sample.findFirst({ where: sampleWhere(filter, createdAt, [domain]), select: { id: true } })) domains.push(domain);
  const where = sampleWhere(filter, createdAt, domains);
  await modelsOf(db, where, format);
  const sampleCount = await db.prisma.sample.count({ where });
  return db.prisma.datasetExport.create({ data: { format, filter: filter as object, split: split as object, sampleCount, createdAt, domains } });
}

export interface StreamOptions {
  /** Called (throttled) as samples go into the zip. */
  onProgress?: (progress: { written: number; total: number; bytes: number }) => void;
}

export interface StreamSummary {
  written: number;
  bytes: number;
  perSplit: Record<SplitName, number>;
}

/**
 * Writes the export's zip into `output`, one entry at a time, reading samples a page at a time. The row's
 * status goes STREAMING -> COMPLETED (or FAILED with the reason, e.g. a client that went away).
 */
export async function streamExport(db: Database, store: ArtifactStore, exportId: string, output: Writable, options: StreamOptions = {}): Promise<StreamSummary> {
  const row = await db.prisma.datasetExport.findUnique({ where: { id: exportId } });
  if (!row) throw new NotFoundError("export", exportId);
  const filter = row.filter as ExportFilter;
  const split = row.split as unknown as SplitSpec;
  const where = sampleWhere(filter, row.createdAt, row.domains as Domain[]);
  const models = await modelsOf(db, where, row.format);
  const total = await db.prisma.sample.count({ where });
  await db.prisma.datasetExport.update({ where: { id: exportId }, data: { status: "STREAMING", startedAt: new Date(), finishedAt: null, writtenCount: 0, byteCount: 0, error: null, sampleCount: total } });

  const zip = new ZipWriter(output, row.createdAt);
  const perSplit: Record<SplitName, number> = { train: 0, val: 0, test: 0 };
  let written = 0;
  let reportedAt = 0;
  const report = async (force = false) => {
    const now = Date.now();
    if (!force && now - reportedAt < PROGRESS_INTERVAL_MS) return;
    reportedAt = now;
    options.onProgress?.({ written, total, bytes: zip.bytes });
    await db.prisma.datasetExport.update({ where: { id: exportId }, data: { writtenCount: written, byteCount: BigInt(zip.bytes) } });
  };
  const context: ExportContext = {
    db,
    store,
    exportId,
    createdAt: row.createdAt,
    where,
    split,
    models,
    classes: unionClasses(models.values()),
    zip,
    async written(name) {
      written++;
      perSplit[name]++;
      await report();
    },
  };
  try {
    await FORMAT_WRITERS[row.format](context);
    const summary = {
      format: row.format.toLowerCase(),
      exportId,
      createdAt: row.createdAt.toISOString(),
      filter,
      split,
      classes: context.classes,
      samples: written,
      perSplit: Object.fromEntries(SPLITS.map((s) => [s, perSplit[s]])),
    };
    await zip.add("export.json", `${JSON.stringify(summary, null, 2)}\n`);
    const bytes = await zip.finish();
    await db.prisma.datasetExport.update({ where: { id: exportId }, data: { status: "COMPLETED", writtenCount: written, byteCount: BigInt(bytes), finishedAt: new Date() } });
    options.onProgress?.({ written, total, bytes });
    return { written, bytes, perSplit };
  } catch (error) {
    zip.abort();
    await db.prisma.datasetExport
      .update({ where: { id: exportId }, data: { status: "FAILED", writtenCount: written, error: `after ${written} of ${total} samples: ${(error as Error).message}`, finishedAt: new Date() } })
      .catch(() => {});
    throw error;
  }
}
