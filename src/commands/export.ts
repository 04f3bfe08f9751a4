// `rareforge export`: the same dataset export as the exportDataset mutation, written to a zip file. The zip is
// written under <out>.partial and renamed when complete, so a failed export leaves no file behind.
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import type { Database } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { createExport, streamExport, type StreamSummary } from "../export/index.ts";
import { MISS_OUTCOMES } from "../detection/index.ts";
import { artifactStoreFromConfig } from "../storage/index.ts";
import { reportFailure, withDatabase } from "./database.ts";

export interface ExportCommandOptions {
  format: string;
  out: string;
  job?: string;
  /** Scenario name or uuid. */
  scenario?: string;
  misses?: boolean;
  outcome?: string;
  /** name=value, repeatable; numbers are compared as numbers. */
  param?: string[];
  split?: string;
  seed?: number;
  progress?: boolean;
}

/** "weather=fog" -> ["weather", "fog"]; "hazardW=0.05" -> ["hazardW", 0.05]. */
export function parseParameter(text: string): [string, string | number] {
  const split = text.indexOf("=");
  if (split <= 0) throw new ValidationError([{ path: "--param", message: `expected name=value, got "${text}"` }], "invalid export");
  const value = text.slice(split + 1);
  return [text.slice(0, split), value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : value];
}

/** "0.8,0.1,0.1" -> fractions. */
export function parseSplitOption(text: string): { train: number; val: number; test: number } {
  const parts = text.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p))) throw new ValidationError([{ path: "--split", message: `expected train,val,test fractions, got "${text}"` }], "invalid export");
  const [train, val, test] = parts as [number, number, number];
  return { train, val, test };
}

async function scenarioIdOf(db: Database, nameOrId: string): Promise<string> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(nameOrId);
  const scenario = await db.prisma.scenario.findFirst({ where: isUuid ? { id: nameOrId } : { name: nameOrId }, select: { id: true } });
  if (!scenario) throw new NotFoundError("scenario", nameOrId);
  return scenario.id;
}

export async function runExport(db: Database, options: ExportCommandOptions, storeDir: { dataDir: string }): Promise<{ exportId: string; file: string } & StreamSummary> {
  if (options.misses && options.outcome) throw new ValidationError([{ path: "--misses", message: "give either --misses or --outcome, not both" }], "invalid export");
  const filter = {
    ...(options.job ? { jobId: options.job } : {}),
    ...(options.scenario ? { scenarioId: await scenarioIdOf(db, options.scenario) } : {}),
    ...(options.misses ? { outcomes: [...MISS_OUTCOMES] } : options.outcome ? { outcomes: options.outcome.split(",").map((o) => o.trim().toUpperCase()) } : {}),
    ...(options.param && options.param.length > 0 ? { parameters: Object.fromEntries(options.param.map(parseParameter)) } : {}),
  };
  const split = { ...(options.split ? parseSplitOption(options.split) : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}) };
  const created = await createExport(db, { filter, format: options.format, split });

  const partial = `${options.out}.partial`;
  const bar = options.progress ? new SingleBar({ format: "export [{bar}] {value}/{total} samples | {megabytes} MB" }) : undefined;
  bar?.start(created.sampleCount, 0, { megabytes: "0.0" });
  try {
    const summary = await streamExport(db, artifactStoreFromConfig(storeDir), created.id, createWriteStream(partial), {
      onProgress: ({ written, bytes }) => bar?.update(written, { megabytes: (bytes / 1024 / 1024).toFixed(1) }),
    });
    await rename(partial, options.out);
    return { exportId: created.id, file: options.out, ...summary };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    bar?.stop();
  }
}

export function registerExportCommand(program: Command): void {
  program
    .command("export")
    .description("export samples as a YOLO, COCO or DICOM dataset zip (deterministic train/val/test split by seed)")
    .requiredOption("--format <format>", "yolo | coco | dicom")
    .requiredOption("--out <file>", "zip file to write")
    .option("--job <uuid>", "samples of one generation job")
    .option("--scenario <name|uuid>", "samples of one scenario (any version)")
    .option("--misses", "only samples a detector missed (MISS or WRONG_CLASS); INVALID samples are never exported")
    .option("--outcome <list>", "only samples with one of these score outcomes, e.g. HIT,MISS")
    .option("--param <name=value>", "drawn parameter value, repeatable (all must match)", (v: string, all: string[]) => [...all, v], [] as string[])
    .option("--split <train,val,test>", "split fractions summing to 1 (default 0.8,0.1,0.1)")
    .option("--seed <n>", "split seed (default 0)", (v: string) => Number(v))
    .option("--no-progress", "no progress bar")
    .action(async (options: ExportCommandOptions) => {
      try {
        const config = loadConfig();
        const result = await withDatabase(config, (db) => runExport(db, { ...options, progress: options.progress !== false && process.stderr.isTTY }, config));
        console.log(JSON.stringify({ exportId: result.exportId, file: result.file, samples: result.written, bytes: result.bytes, perSplit: result.perSplit }));
      } catch (error) {
        reportFailure("export", error);
      }
    });
}
