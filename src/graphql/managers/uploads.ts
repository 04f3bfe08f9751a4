// Reference scans over GraphQL: checks the request (a File within the size limit; exactly one region),
// then hands it to the uploads service, which de-identifies before anything is stored. Resolvers stay thin.
import { z } from "zod";
import { ValidationError, type FieldIssue } from "../../errors.ts";
import { artifactStoreFromConfig } from "../../storage/index.ts";
import { ReferenceScanService, UploadRefusedError, type InsertionRegion } from "../../uploads/index.ts";
import type { Services } from "../context.ts";

export interface InsertPathologyInput {
  referenceScanId: string;
  box?: { x: number; y: number; width: number; height: number } | null;
  mask?: File | null;
  parameters?: unknown;
  model?: string | null;
  sampler: string;
  steps: number;
  guidance: number;
  seed: number;
  strength?: number | null;
  feather?: number | null;
  executionProvider?: string | null;
}

const parametersSchema = z.record(z.string(), z.union([z.string(), z.number()]));

export class ReferenceScanManager {
  private readonly service: ReferenceScanService;

  constructor(private readonly services: Pick<Services, "config" | "db">) {
    const { config, db } = services;
    this.service = new ReferenceScanService(db, artifactStoreFromConfig(config), {
      maxUploadBytes: config.maxUploadBytes,
      dataDir: config.dataDir,
      modelsDir: config.modelsDir,
      executionProvider: config.executionProvider,
      onnxThreads: config.onnxThreads,
    });
  }

  /** The size is checked from the multipart part before its bytes are read into memory. */
  async upload(file: File) {
    const limit = this.services.config.maxUploadBytes;
    if (file.size > limit) throw new UploadRefusedError("TOO_LARGE", `the uploaded file has ${file.size} bytes; the limit is ${limit} (RAREFORGE_MAX_UPLOAD_BYTES)`);
    return this.service.upload(new Uint8Array(await file.arrayBuffer()));
  }

  async insertPathology(input: InsertPathologyInput) {
    const issues: FieldIssue[] = [];
    if (Boolean(input.box) === Boolean(input.mask)) issues.push({ path: "region", message: "give exactly one of box and mask" });
    const parameters = parametersSchema.safeParse(input.parameters);
    if (!parameters.success) issues.push({ path: "parameters", message: "give an object of condition field -> string or number, e.g. { pathology: \"tumour\" }" });
    if (issues.length > 0 || !parameters.success) throw new ValidationError(issues, "invalid pathology insertion");
    let region: InsertionRegion;
    if (input.box) region = { kind: "box", ...input.box };
    else {
      const mask = input.mask as File;
      if (mask.size > this.services.config.maxUploadBytes) throw new ValidationError([{ path: "mask", message: `the mask has ${mask.size} bytes; the limit is ${this.services.config.maxUploadBytes}` }]);
      region = { kind: "mask-image", bytes: new Uint8Array(await mask.arrayBuffer()) };
    }
    return this.service.insertPathology({
      referenceScanId: input.referenceScanId,
      region,
      parameters: parameters.data,
      ...(input.model ? { model: input.model } : {}),
      sampler: input.sampler,
      steps: input.steps,
      guidance: input.guidance,
      seed: input.seed,
      ...(input.strength !== null && input.strength !== undefined ? { strength: input.strength } : {}),
      ...(input.feather !== null && input.feather !== undefined ? { feather: input.feather } : {}),
      ...(input.executionProvider ? { executionProvider: input.executionProvider } : {}),
    });
  }
}

/** One manager per service (database), made on first use: the uploads domain needs nothing more than config and database. */
const managers = new WeakMap<object, ReferenceScanManager>();
export function referenceScansOf(services: Pick<Services, "config" | "db">): ReferenceScanManager {
  let manager = managers.get(services.db);
  if (!manager) {
    manager = new ReferenceScanManager(services);
    managers.set(services.db, manager);
  }
  return manager;
}
