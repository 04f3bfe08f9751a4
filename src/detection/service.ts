// Detectors under test: the shipped packages (models/*-detector, registered on first use like model
// packages are), users' Ultralytics and YOLOX exports registered unchanged with a class map, the check that a
// detector can score a scenario before a job is created, and scoring existing samples on demand.
// Everything a detector can be refused for is checked from its files before any row is written.
import { createHash } from "node:crypto";
import { openAsBlob } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { z } from "zod";
import type { Config } from "../config.ts";
import { Prisma, type Database } from "../db/index.ts";
import { DetectorPackageError, type DetectorErrorCode } from "./errors.ts";
import { detectorFilesOf, type DetectorFiles } from "./files.ts";
import { DETECTOR_LAYOUTS } from "./layouts.ts";
import { changedRegionsOf, describeDetectorSource, describeExport, describeRecordedDetector, intendedClasses, ScoringSessions, shippedDetectorPackages, unmappedClasses, type DetectorSource, type RealismGate, type SampleVerdict } from "./in-the-loop.ts";
import { decodeImage } from "../imaging/index.ts";
import { DomainError, NotFoundError, AlreadyExistsError, ValidationError } from "../errors.ts";
import { detectorRecordOf, scoreWithDetector, writeScores } from "./rows.ts";
import type { Logger } from "../logger.ts";
import { loadModelPackageAsync, resolveModelDir, type GroundTruthBox } from "../models/index.ts";
import type { ParameterValue, ScenarioSpec } from "../scenarios/index.ts";
import type { ArtifactStore } from "../storage/index.ts";
import type { DetectorPackage } from "../generated/prisma/client.ts";

/** A detector file that cannot be used as given (layout, class names, class map, changed files). */
export class DetectorUnusableError extends DomainError {
  override name = "DetectorUnusableError";
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const rethrow = (error: unknown): never => {
  if (error instanceof DetectorPackageError) throw new DetectorUnusableError(error.code, error.message);
  throw error;
};

/** Where uploaded detector files go, inside the detectors directory. */
const UPLOADED_DETECTORS = "uploaded";

/** A registered detector's name. */
const DETECTOR_NAME = /^[a-z0-9][a-z0-9._-]{0,79}$/i;

const classMapInput = z.record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]));
const registration = z.object({
  path: z.string().min(1),
  name: z.string().regex(DETECTOR_NAME, "letters, digits, . _ - (at most 80)").optional(),
  version: z.string().min(1).max(40).optional(),
  classMap: classMapInput.optional(),
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** Instead of the layout the output shape implies. */
  layout: z.enum(DETECTOR_LAYOUTS).optional(),
});
export type DetectorRegistration = z.input<typeof registration>;

export interface ScoreSamplesOutcome {
  /** Samples scored now. */
  scored: number;
  /** Of which the realism gate refused. */
  invalid: number;
  /** Samples that already had a score from this detector (left as they were). */
  alreadyScored: number;
}

/** detector.json's domain, as the database spells it. */
async function domainOf(dir: string): Promise<"AUTOMOTIVE" | "MEDICAL" | null> {
  const domain = (JSON.parse(await readFile(join(dir, "detector.json"), "utf8")) as { domain?: string }).domain;
  return domain === "medical" ? "MEDICAL" : domain === "automotive" ? "AUTOMOTIVE" : null;
}

/** Scenario classes the detector must be able to score, or a ValidationError naming the unmapped ones. */
function checkClasses(row: Pick<DetectorPackage, "name" | "classMap">, spec: ScenarioSpec, labelRules: readonly { class: string; absentWhen?: readonly string[] }[]): void {
  const wanted = intendedClasses(labelRules, spec.parameters as never);
  const missing = unmappedClasses(wanted, row.classMap as Record<string, string[]>);
  if (missing.length > 0) {
    throw new ValidationError(
      [{ path: "detectorId", message: `detector ${row.name} has no class-map entry for ${missing.map((m) => `"${m}"`).join(", ")}, which scenario ${spec.name} asks for` }],
      "the detector cannot score this scenario",
    );
  }
}

export class DetectorService {
  private shipped: Promise<void> | undefined;
  private readonly sessions: ScoringSessions;
  private readonly files: DetectorFiles;

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly store: ArtifactStore,
    private readonly logger: Logger,
  ) {
    this.files = detectorFilesOf(config);
    this.sessions = new ScoringSessions(this.files, config.onnxThreads > 0 ? { intraOpThreads: config.onnxThreads } : {});
  }

  /** Registers every shipped detector package once per process (idempotent across processes). */
  ensureShipped(): Promise<void> {
    this.shipped ??= this.registerShipped().catch((error: unknown) => {
      this.shipped = undefined;
      throw error;
    });
    return this.shipped;
  }

  private async registerShipped(): Promise<void> {
    for (const name of shippedDetectorPackages(this.config.modelsDir)) {
      const source: DetectorSource = { kind: "package", package: name };
      let described;
      try {
        described = await describeDetectorSource(source, this.files);
      } catch (error) {
        // One broken package must not hide the others; it is reported and left out.
        this.logger.error({ err: error, package: name }, "shipped detector package is unusable; not registered");
        continue;
      }
      const manifest = JSON.parse(JSON.stringify({ source, kind: described.kind, layout: described.layout, model: described.model, classField: described.classField, thresholds: described.thresholds, input: described.input }));
      try {
        await this.db.prisma.detectorPackage.upsert({
          where: { name_version: { name: described.name, version: described.version } },
          create: {
            name: described.name,
            version: described.version,
            domain: await domainOf(join(this.config.modelsDir, name)),
            manifest,
            manifestSha256: described.fileHashes["detector.json"] ?? "",
            fileHashes: described.fileHashes,
            classNames: [...described.classes],
            classMap: described.classMap as Prisma.InputJsonValue,
          },
          update: {},
        });
      } catch (error) {
        // another process registered it at the same moment
        if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002")) throw error;
      }
    }
  }

  /**
   * Registers an Ultralytics YOLOv8/11 or a YOLOX export unchanged, its layout from its output shape (or
   * `layout`): class names from its metadata (or `classes`; a YOLOX export without either is COCO-80), a
   * class map from scenario classes to its classes (default: COCO names for the road vocabulary). The file
   * must be a regular file inside the detectors directory (RAREFORGE_DETECTORS_DIR) and stays there
   * (workers must see the same directory); its path relative to the directory and its sha256 are recorded,
   * and both are checked at every load.
   */
  async register(input: DetectorRegistration): Promise<DetectorPackage> {
    const parsed = registration.safeParse(input);
    if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })), "invalid detector registration");
    const { classMap, classes, layout } = parsed.data;
    let source: DetectorSource;
    let described;
    try {
      ({ source, described } = await describeExport(parsed.data.path, this.files, { ...(classMap ? { classMap } : {}), ...(classes ? { classes } : {}), ...(layout ? { layout } : {}) }));
    } catch (error) {
      return rethrow(error);
    }
    const name = parsed.data.name ?? described.name;
    const version = parsed.data.version ?? described.version;
    const sha256 = Object.values(described.fileHashes)[0] ?? "";
    try {
      return await this.db.prisma.detectorPackage.create({
        data: {
          name,
          version,
          domain: null,
          manifest: JSON.parse(JSON.stringify({ source, kind: described.kind, layout: described.layout, thresholds: described.thresholds, input: described.input })),
          manifestSha256: sha256,
          fileHashes: described.fileHashes,
          classNames: [...described.classes],
          classMap: described.classMap as Prisma.InputJsonValue,
        },
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") throw new AlreadyExistsError("detector", `${name} ${version}`);
      throw error;
    }
  }

  /**
   * Registers an uploaded export (Ultralytics or YOLOX): the file (at most RAREFORGE_MAX_DETECTOR_BYTES, and what the upload
   * limit lets through) is stored content-addressed as `uploaded/<sha256>.onnx` in the detectors directory, which
   * workers share, and registered from there. A refused file is not kept.
   */
  async registerUpload(file: Blob, input: Omit<DetectorRegistration, "path">): Promise<DetectorPackage> {
    const limit = Math.min(this.files.maxBytes, this.config.maxUploadBytes);
    if (file.size > limit)
      throw new DetectorUnusableError("too-large", `the uploaded detector has ${file.size} bytes; the limit for an upload is ${limit} (RAREFORGE_MAX_DETECTOR_BYTES, RAREFORGE_MAX_UPLOAD_BYTES); larger files are registered by path from RAREFORGE_DETECTORS_DIR`);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const relativePath = join(UPLOADED_DETECTORS, `${sha256}.onnx`);
    const target = join(this.files.detectorsDir, relativePath);
    await mkdir(join(this.files.detectorsDir, UPLOADED_DETECTORS), { recursive: true });
    let created = false;
    try {
      await writeFile(target, bytes, { flag: "wx", mode: 0o644 });
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    try {
      const named = typeof (file as Partial<File>).name === "string" ? (file as File).name.replace(/\.onnx$/i, "") : "";
      const name = input.name ?? (DETECTOR_NAME.test(named) ? named : `uploaded-${sha256.slice(0, 12)}`);
      return await this.register({ ...input, path: relativePath, name });
    } catch (error) {
      // the file stays only if a registration uses it
      if (created && !(await this.db.prisma.detectorPackage.findFirst({ where: { manifestSha256: sha256 }, select: { id: true } }))) await rm(target, { force: true });
      throw error;
    }
  }

  async get(id: string): Promise<DetectorPackage> {
    await this.ensureShipped();
    const row = await this.db.prisma.detectorPackage.findUnique({ where: { id } });
    if (!row) throw new NotFoundError("detector", id);
    return row;
  }

  /** A registered detector by `name` or `name@version` (the only one of that name, or the version given). */
  async findByName(spec: string): Promise<DetectorPackage> {
    await this.ensureShipped();
    const [name, version] = spec.split("@");
    const rows = await this.db.prisma.detectorPackage.findMany({ where: { name: name!, ...(version ? { version } : {}) }, orderBy: { createdAt: "asc" } });
    if (rows.length === 0) throw new NotFoundError("detector", spec);
    if (rows.length > 1) throw new ValidationError([{ path: "detector", message: `"${spec}" names ${rows.length} detectors (${rows.map((r) => `${r.name}@${r.version}`).join(", ")}); give name@version` }], "ambiguous detector");
    return rows[0]!;
  }

  /**
   * An export given as a file (the command line's `--detector file.onnx`): the detector already registered with
   * the same bytes, or the file registered now as an upload (size checked before it is read).
   */
  async registerExportFile(path: string): Promise<DetectorPackage> {
    const file = await openAsBlob(path);
    const limit = Math.min(this.files.maxBytes, this.config.maxUploadBytes);
    if (file.size > limit) throw new DetectorUnusableError("too-large", `${path} has ${file.size} bytes; a detector file may have at most ${limit} (RAREFORGE_MAX_DETECTOR_BYTES, RAREFORGE_MAX_UPLOAD_BYTES)`);
    const sha256 = createHash("sha256").update(new Uint8Array(await file.arrayBuffer())).digest("hex");
    const existing = await this.db.prisma.detectorPackage.findFirst({ where: { manifestSha256: sha256 }, orderBy: { createdAt: "asc" } });
    if (existing) return existing;
    const named = basename(path).replace(/\.onnx$/i, "");
    return this.registerUpload(file, DETECTOR_NAME.test(named) && !(await this.db.prisma.detectorPackage.findFirst({ where: { name: named } })) ? { name: named } : {});
  }

  /** The realism gate as configured now (recorded with each job that scores). */
  realismGate(): RealismGate {
    return {
      enabled: this.config.realismGate,
      thresholds: {
        // unset: the critic's calibrated floors (critic.json gate) decide
        ...(this.config.realismMinBoxIoU !== undefined ? { minBoxIoU: this.config.realismMinBoxIoU } : {}),
        ...(this.config.realismScalarTolerance !== undefined ? { scalarTolerance: this.config.realismScalarTolerance } : {}),
        ...(this.config.realismMinProbability !== undefined ? { minProbability: this.config.realismMinProbability } : {}),
        ignore: this.config.realismIgnore,
      },
    };
  }

  /**
   * Before a job or search is created: the detector exists, its files are the registered ones and still
   * load as a YOLO layout, and its class map covers every class the scenario can ask for.
   */
  async checkForScenario(detectorId: string, spec: ScenarioSpec): Promise<DetectorPackage> {
    const row = await this.get(detectorId);
    try {
      await describeRecordedDetector(detectorRecordOf(row), this.files);
    } catch (error) {
      rethrow(error);
    }
    checkClasses(row, spec, await this.labelRules(spec.model));
    return row;
  }

  /** checkForScenario against the scenario's latest version. */
  async checkForScenarioId(detectorId: string, scenarioId: string): Promise<DetectorPackage> {
    const version = await this.db.prisma.scenarioVersion.findFirst({ where: { scenarioId }, orderBy: { version: "desc" } });
    if (!version) throw new NotFoundError("scenario", scenarioId);
    return this.checkForScenario(detectorId, version.spec as unknown as ScenarioSpec);
  }

  private async labelRules(model: string): Promise<{ class: string; absentWhen?: string[] }[]> {
    try {
      return (await loadModelPackageAsync(resolveModelDir(model, this.config.modelsDir))).manifest.labels as { class: string; absentWhen?: string[] }[];
    } catch (error) {
      throw new ValidationError([{ path: "scenario.model", message: (error as Error).message }], "the scenario's model cannot be loaded");
    }
  }

  /**
   * Scores the samples of a job, a scenario or a list (a suite's) that this detector has not scored yet (idempotent: one Score
   * per sample and detector; a sample scored by a concurrent call is skipped). Runs here, in the API
   * process, batch by batch: each sample's Detections and Score are written in one transaction.
   */
  async scoreSamples(scope: { jobId?: string | null; scenarioId?: string | null; sampleIds?: readonly string[] | null }, detectorId: string): Promise<ScoreSamplesOutcome> {
    if ([scope.jobId, scope.scenarioId, scope.sampleIds].filter((s) => s != null).length !== 1)
      throw new ValidationError([{ path: "jobId", message: "give exactly one of jobId and scenarioId" }], "invalid scoring request");
    const detector = await this.get(detectorId);
    const where = {
      status: "OK" as const,
      artifactId: { not: null },
      ...(scope.jobId ? { jobId: scope.jobId } : scope.sampleIds ? { id: { in: [...scope.sampleIds] } } : { scenarioVersion: { scenarioId: scope.scenarioId! } }),
    };
    if (scope.jobId && !(await this.db.prisma.generationJob.findUnique({ where: { id: scope.jobId }, select: { id: true } }))) throw new NotFoundError("job", scope.jobId);
    if (scope.scenarioId && !(await this.db.prisma.scenario.findUnique({ where: { id: scope.scenarioId }, select: { id: true } }))) throw new NotFoundError("scenario", scope.scenarioId);
    // every model these samples come from must be scoreable by this detector before anything is written
    const versions = await this.db.prisma.scenarioVersion.findMany({ where: { samples: { some: where } }, select: { spec: true } });
    for (const v of versions) {
      const spec = v.spec as unknown as ScenarioSpec;
      checkClasses(detector, spec, await this.labelRules(spec.model));
    }
    const total = await this.db.prisma.sample.count({ where });
    const gate = this.realismGate();
    const outcome: ScoreSamplesOutcome = { scored: 0, invalid: 0, alreadyScored: 0 };
    let cursor: string | undefined;
    for (;;) {
      // keyset pagination (id > the last one seen): a Prisma cursor with skip 1 would skip an unscored sample
      // once the cursor's own sample is scored and so no longer matches the filter
      const batch = await this.db.prisma.sample.findMany({
        where: { AND: [where, { scores: { none: { detectorPackageId: detector.id } } }, ...(cursor ? [{ id: { gt: cursor } }] : [])] },
        include: { artifact: true, scenarioVersion: { select: { spec: true } } },
        orderBy: { id: "asc" },
        take: 32,
      });
      if (batch.length === 0) break;
      cursor = batch[batch.length - 1]!.id;
      const byModel = new Map<string, typeof batch>();
      for (const s of batch) {
        const model = (s.scenarioVersion.spec as unknown as ScenarioSpec).model;
        byModel.set(model, [...(byModel.get(model) ?? []), s]);
      }
      for (const [model, samples] of byModel) {
        let verdicts: SampleVerdict[];
        try {
          const images = await Promise.all(samples.map(async (s) => decodeImage(await this.store.readBytes(s.artifact!.sha256), `sample ${s.id}`)));
          verdicts = await scoreWithDetector(this.sessions, detector, model, gate, samples.map((s, k) => ({ image: images[k]!, intended: (s.labels as { boxes?: GroundTruthBox[] }).boxes ?? [], parameters: s.parameters as Record<string, ParameterValue>, ...changedRegionsOf(s.labels) })));
        } catch (error) {
          return rethrow(error);
        }
        // one transaction per sample: a sample scored meanwhile by a concurrent call is skipped, the rest written
        for (const [k, s] of samples.entries()) {
          const verdict = verdicts[k]!;
          try {
            await this.db.prisma.$transaction((tx) => writeScores(tx, detector.id, [{ sampleId: s.id, verdict }]));
            outcome.scored++;
            if (verdict.outcome === "INVALID") outcome.invalid++;
          } catch (error) {
            if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002")) throw error;
          }
        }
      }
    }
    outcome.alreadyScored = total - outcome.scored;
    return outcome;
  }

  async close(): Promise<void> {
    await this.sessions.dispose();
  }
}
