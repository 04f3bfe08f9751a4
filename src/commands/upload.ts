// `rareforge upload <file>`: stores a reference scan the way the GraphQL upload does (type sniffed by
// content, size limit, DICOM de-identified in memory before anything is written) and prints its id.
// `rareforge insert-pathology <scanId> --box x,y,w,h | --mask mask.png --pathology tumour`: inpaints a
// pathology into a stored DICOM scan and writes the result DICOM (and, with --out-dir, its companions).
import { readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig, type Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import { artifactStoreFromConfig } from "../storage/index.ts";
import { SAMPLERS } from "../diffusion/index.ts";
import { referenceScanSettings, ReferenceScanService, UploadRefusedError, type InsertionRegion } from "../uploads/index.ts";
import { reportFailure, withDatabase } from "./database.ts";

async function withService<T>(work: (service: ReferenceScanService, db: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  return withDatabase(config, (db) => work(new ReferenceScanService(db, artifactStoreFromConfig(config), referenceScanSettings(config)), db, config));
}

export function parseBox(text: string): InsertionRegion {
  const parts = text.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p))) throw new Error(`--box must be x,y,width,height in whole pixels, got "${text}"`);
  const [x, y, width, height] = parts as [number, number, number, number];
  return { kind: "box", x, y, width, height };
}

/** `--param name=value` pairs as condition values: numbers where the value reads as one. */
export function parseParamPairs(pairs: readonly string[] | undefined): Record<string, string | number> {
  const parameters: Record<string, string | number> = {};
  for (const pair of pairs ?? []) {
    const [name, value] = pair.split("=");
    if (!name || value === undefined) throw new Error(`--param must be name=value, got "${pair}"`);
    parameters[name] = Number.isFinite(Number(value)) ? Number(value) : value;
  }
  return parameters;
}

export function registerUploadCommand(program: Command): void {
  program
    .command("upload")
    .description("store a reference scan (DICOM de-identified before storage, PNG/JPEG without metadata); prints its id")
    .argument("<file>", "DICOM, PNG or JPEG file")
    .option("--domain <domain>", "MEDICAL (default) or AUTOMOTIVE (a PNG/JPEG camera frame to insert hazards into)")
    .action(async (file: string, options: { domain?: string }) => {
      try {
        const config = loadConfig();
        const size = statSync(file).size;
        // The size is checked before the file is read into memory.
        if (size > config.maxUploadBytes) throw new UploadRefusedError("TOO_LARGE", `${file} has ${size} bytes; the limit is ${config.maxUploadBytes} (RAREFORGE_MAX_UPLOAD_BYTES)`);
        const bytes = new Uint8Array(readFileSync(file));
        const domain = options.domain?.toUpperCase();
        if (domain !== undefined && domain !== "MEDICAL" && domain !== "AUTOMOTIVE") throw new Error(`--domain must be MEDICAL or AUTOMOTIVE, got "${options.domain}"`);
        const scan = await withService((service) => service.upload(bytes, { domain: domain ?? null }));
        console.log(
          JSON.stringify({ id: scan.id, kind: scan.kind, domain: scan.domain, modality: scan.modality, rows: scan.rows, columns: scan.columns, sopInstanceUid: scan.sopInstanceUid, sha256: scan.artifact.sha256 }),
        );
      } catch (error) {
        reportFailure("upload", error);
      }
    });

  program
    .command("insert-pathology")
    .description("inpaint a pathology into a stored DICOM reference scan; writes the result DICOM")
    .argument("<scanId>", "id printed by `rareforge upload`")
    .option("--box <x,y,w,h>", "region in scan pixels")
    .option("--mask <file>", "PNG/JPEG mask of the scan's size, white = region")
    .requiredOption("--pathology <value>", "the condition's pathology, e.g. tumour")
    .option("--param <name=value...>", "further condition values, e.g. lesionContrast=0.8")
    .option("--model <name>", "medical model package", "brain-mri")
    .option("--sampler <name>", `${SAMPLERS.join(" | ")} (default: the model's)`)
    .option("--steps <n>", "denoising steps (default: the model's)")
    .option("--guidance <g>", "classifier-free guidance (default: the model's)")
    .option("--seed <n>", "noise seed", "0")
    .option("--feather <px>", "blend band around the regenerated lesion, scan pixels", "3")
    .option("--out <file>", "where to write the DICOM", "insertion.dcm")
    .option("--out-dir <dir>", "also write the preview PNG, ground-truth JSON and SEG there")
    .action(async (scanId: string, options: Record<string, string | string[] | undefined>) => {
      try {
        if (Boolean(options.box) === Boolean(options.mask)) throw new Error("give exactly one of --box and --mask");
        const region: InsertionRegion = options.box ? parseBox(String(options.box)) : { kind: "mask-image", bytes: new Uint8Array(readFileSync(String(options.mask))) };
        const parameters = { pathology: String(options.pathology), ...parseParamPairs(options.param as string[] | undefined) };
        await withService(async (service, _db, config) => {
          const insertion = await service.insertPathology({
            referenceScanId: scanId,
            region,
            parameters,
            model: String(options.model),
            ...(options.sampler !== undefined ? { sampler: String(options.sampler) } : {}),
            ...(options.steps !== undefined ? { steps: Number(options.steps) } : {}),
            ...(options.guidance !== undefined ? { guidance: Number(options.guidance) } : {}),
            seed: Number(options.seed),
            feather: Number(options.feather),
          });
          const store = artifactStoreFromConfig(config);
          writeFileSync(String(options.out), readFileSync(store.pathOf(insertion.artifact.sha256)));
          const written = [String(options.out)];
          if (options.outDir) {
            mkdirSync(String(options.outDir), { recursive: true });
            const extension: Record<string, string> = { preview: "png", "ground-truth": "json", segmentation: "seg.dcm" };
            for (const file of insertion.files as { role: string; sha256: string }[]) {
              const target = path.join(String(options.outDir), `${insertion.id}.${extension[file.role] ?? "bin"}`);
              writeFileSync(target, readFileSync(store.pathOf(file.sha256)));
              written.push(target);
            }
          }
          console.log(JSON.stringify({ id: insertion.id, parameters: insertion.parameters, files: written }));
        });
      } catch (error) {
        reportFailure("insert-pathology", error);
      }
    });
}
