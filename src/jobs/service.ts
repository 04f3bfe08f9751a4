// Generation jobs service: validates a request (typed errors, no job created on any refusal), creates the
// job and its batch tasks, cancels, reproduces samples from their provenance record, streams progress.
import type { PgBoss } from "pg-boss";
import { currentCaller, requireOwnerOrAdmin } from "../access/index.ts";
import type { Config } from "../config.ts";
import type { Database, Prisma } from "../db/index.ts";
import { GenerationInputError, openModelRuntime, resolveSamplingSettings, validateRequest, type SamplingSettings, type SamplingSettingsInput } from "../diffusion/index.ts";
import { ArchivedError, NotFoundError, ValidationError, type FieldIssue } from "../errors.ts";
import { reproduceFromRecord, ReproductionError } from "../generation/index.ts";
import { storedRecord } from "../provenance/index.ts";
import { BATCH_QUEUE, splitIntoTasks } from "./queue.ts";
import { cancelJob, isTerminal } from "./lifecycle.ts";
import { ExecutionProviderUnavailableError, ReproductionUnavailableError } from "./errors.ts";
import { JobEvents } from "./events.ts";
import { offeredProviders, WORKER_LIVENESS_MS } from "./worker.ts";
import { watchProgress, type JobProgress } from "./progress.ts";
import { installOptimumExport, loadModelPackageAsync, ModelPackageError, resolveModelDir, type ModelManifest, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import { drawParameters, type ScenarioSpec } from "../scenarios/index.ts";
import { ReferenceSetService, reproduceFrameSample, type ResolvedBackground } from "../uploads/index.ts";
import { artifactStoreFromConfig, type ArtifactStore } from "../storage/index.ts";

export interface GenerationRequest extends SamplingSettingsInput {
  scenarioId: string;
  count: number;
  /** Score every sample with this registered detector (checked by the caller: DetectorService.checkForScenario). */
  detectorPackageId?: string | null;
  /** Realism gate settings recorded with the job (detector in the loop). */
  realism?: { enabled: boolean; thresholds: Record<string, unknown> } | null;
  /** Explicit parameters for indices 0..count-1 (a failure search's proposals) instead of drawing them. */
  parameters?: ScenarioParameters[] | null;
  /**
   * The first sample index (default 0): the job makes samples firstIndex..firstIndex+count-1 of the seed's
   * stream, each exactly as a job from index 0 would (a suite generating only the samples it lacks).
   */
  firstIndex?: number | null;
  /** The failure search this job is an iteration of. */
  searchId?: string | null;
  /** The API key the job belongs to; default: the current caller's (none for the CLI). */
  ownerKeyId?: string | null;
}

export interface ReproductionReport {
  sampleId: string;
  matches: boolean;
  expectedSha256: string;
  actualSha256: string;
  executionProvider: string;
  seconds: number;
}

export class JobService {
  private readonly models = new Map<string, { model: ModelPackage; rowId: string }>();

  constructor(
    private readonly db: Database,
    private readonly boss: PgBoss,
    private readonly config: Config,
    readonly events: JobEvents,
    /** Where reproduction reads a frame sample's source frame (default: the configured data directory's store). */
    private readonly store: ArtifactStore = artifactStoreFromConfig(config),
  ) {}

  /** Checks the request, then creates the job and its batch tasks. Any refusal creates nothing. */
  async request(input: GenerationRequest) {
    const scenario = await this.db.prisma.scenario.findUnique({ where: { id: input.scenarioId } });
    if (!scenario) throw new NotFoundError("scenario", input.scenarioId);
    if (scenario.archivedAt) throw new ArchivedError("scenario", scenario.name);
    const version = await this.db.prisma.scenarioVersion.findUniqueOrThrow({
      where: { scenarioId_version: { scenarioId: scenario.id, version: scenario.latestVersion } },
    });
    const spec = version.spec as unknown as ScenarioSpec;

    const { model, rowId } = await this.model(spec.model);
    const issues: FieldIssue[] = [];
    const { maxSamplesPerJob } = this.config;
    if (!Number.isInteger(input.count) || input.count < 1 || input.count > maxSamplesPerJob)
      issues.push({ path: "count", message: `count must be an integer in [1, ${maxSamplesPerJob}], got ${input.count}` });
    const firstIndex = input.firstIndex ?? 0;
    if (!Number.isSafeInteger(firstIndex) || firstIndex < 0) issues.push({ path: "firstIndex", message: `firstIndex must be a non-negative integer, got ${firstIndex}` });
    if (input.parameters && firstIndex !== 0) issues.push({ path: "firstIndex", message: "explicit parameters start at index 0" });
    if (input.parameters && input.parameters.length !== input.count)
      issues.push({ path: "parameters", message: `${input.parameters.length} parameter sets for ${input.count} samples` });
    let settings: SamplingSettings | undefined;
    try {
      settings = resolveSamplingSettings(input, { manifest: model.manifest, executionProvider: this.config.executionProvider, maxBatchSize: this.config.maxBatchSize });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues);
    }
    if (issues.length > 0 || !settings) throw new ValidationError(issues, "invalid generation request");
    const ep = settings.executionProvider;

    const available = await this.availableProviders();
    if (!available.includes(ep)) throw new ExecutionProviderUnavailableError(ep, available);

    // A background scenario draws from its reference set's frames as they are now: the list is frozen in the job.
    const background = spec.background ? await this.background(spec, model) : null;
    if (!background) try {
      // The pipeline's own checks (parameters against the model's condition) on the first sample, before
      // anything is written.
      validateRequest({
        model,
        ...settings,
        indices: [firstIndex],
        parameters: [input.parameters?.[0] ?? (drawParameters(spec, settings.seed, firstIndex) as ScenarioParameters)],
      });
    } catch (error) {
      if (error instanceof GenerationInputError) throw new ValidationError([{ path: error.code, message: error.message }], "invalid generation request");
      throw error;
    }

    const tasksOf = (jobId: string) => splitIntoTasks(jobId, input.count, settings.batchSize, firstIndex);
    const job = await this.db.prisma.generationJob.create({
      data: {
        ownerKeyId: input.ownerKeyId !== undefined ? input.ownerKeyId : (currentCaller()?.keyId ?? null),
        scenarioVersionId: version.id,
        modelPackageId: rowId,
        count: input.count,
        batchSize: settings.batchSize,
        sampler: settings.sampler,
        steps: settings.steps,
        guidance: settings.guidance,
        seed: BigInt(settings.seed),
        executionProvider: ep,
        taskCount: Math.ceil(input.count / settings.batchSize),
        detectorPackageId: input.detectorPackageId ?? null,
        searchId: input.searchId ?? null,
        options: {
          ...(input.realism ? { realism: input.realism } : {}),
          ...(input.parameters ? { parameters: input.parameters } : {}),
          ...(background ? { background } : {}),
          // only when asked: a job that named no quality took the model's defaults, as before
          ...(input.quality != null ? { quality: settings.quality } : {}),
        } as unknown as Prisma.InputJsonValue,
      },
    });
    try {
      await this.boss.insert(BATCH_QUEUE, tasksOf(job.id).map((data) => ({ data })));
    } catch (error) {
      // Without its tasks the job would never run: record why and end it instead of leaving it queued.
      await this.db.prisma.generationJob.update({ where: { id: job.id }, data: { status: "FAILED", error: `could not queue batch tasks: ${(error as Error).message}`, finishedAt: new Date() } });
      throw error;
    }
    return job;
  }

  /** The frames a background scenario draws from, checked again against its spec (the set may have changed since). */
  private async background(spec: ScenarioSpec, model: ModelPackage): Promise<ResolvedBackground> {
    const sets = new ReferenceSetService(this.db);
    const issues = await sets.check(spec, model.manifest);
    if (issues.length > 0) throw new ValidationError(issues.map((i) => ({ ...i, path: `scenario.${i.path}` })), "the scenario's background does not fit its reference set");
    return sets.resolve(spec.background!.referenceSet);
  }

  /** Providers of live workers; with none alive, those a worker here would offer. */
  async availableProviders(): Promise<string[]> {
    const live = await this.db.prisma.workerInstance.findMany({
      where: { heartbeatAt: { gt: new Date(Date.now() - WORKER_LIVENESS_MS) } },
      select: { executionProviders: true },
    });
    const providers = live.length > 0 ? live.flatMap((w) => w.executionProviders) : offeredProviders(this.config.executionProvider);
    return [...new Set(providers)].sort();
  }

  /** The manifest of a scenario's model (its sampling defaults and schedule), loaded and registered once. */
  async modelManifest(name: string): Promise<ModelManifest> {
    return (await this.model(name)).model.manifest;
  }

  /**
   * Registers a users' Optimum export (optimum-cli export onnx --task text-to-image) unchanged: a directory inside
   * the models directory, with its rareforge.json (given here or beside it). The export is checked and hashed, installed
   * as models/<name>/ (linked or copied) with the hashes in rareforge.json, loaded as every worker will load it, and
   * recorded. A refusal is a ModelPackageError naming the problem, and leaves nothing installed or recorded.
   */
  async registerModel(input: { path: string; manifest?: unknown }): Promise<{ rowId: string; model: ModelPackage }> {
    const installed = await installOptimumExport({ path: input.path, modelsDir: this.config.modelsDir, ...(input.manifest !== undefined ? { manifest: input.manifest } : {}) });
    this.models.delete(installed.name);
    try {
      // loaded as a worker loads it, its sessions opened once: tokenizer, UNet channels and hidden-state width are
      // checked before anything is recorded
      await (await openModelRuntime(await loadModelPackageAsync(installed.dir), { ep: "cpu" })).dispose();
      return await this.model(installed.name, "model");
    } catch (error) {
      this.models.delete(installed.name);
      // e.g. the same name and version recorded earlier with other files: the installation is undone
      await installed.rollback();
      throw error;
    }
  }

  /** Loads (once per process) and registers the model package a scenario names. */
  private async model(name: string, path = "scenario.model"): Promise<{ model: ModelPackage; rowId: string }> {
    const cached = this.models.get(name);
    if (cached) return cached;
    let model: ModelPackage;
    try {
      model = await loadModelPackageAsync(resolveModelDir(name, this.config.modelsDir));
    } catch (error) {
      if (path === "model" && error instanceof ModelPackageError) throw error;
      throw new ValidationError([{ path, message: (error as Error).message }], "the scenario's model cannot be loaded");
    }
    const manifest = model.manifest;
    const row = await this.db.prisma.modelPackage.upsert({
      where: { name_version: { name: manifest.name, version: manifest.version } },
      create: {
        name: manifest.name,
        version: manifest.version,
        domain: manifest.domain === "medical" ? "MEDICAL" : "AUTOMOTIVE",
        manifest: manifest as unknown as Prisma.InputJsonValue,
        manifestSha256: model.manifestSha256,
        fileHashes: model.fileHashes as Prisma.InputJsonValue,
      },
      update: {},
    });
    // A name and version stand for fixed weights: samples record the row, and the worker checks its hashes.
    // (model.json itself may change under a version, e.g. its evaluation figures; its sha256 is recorded)
    const recorded = row.fileHashes as Record<string, string>;
    const loaded = model.fileHashes;
    const changed = Object.keys({ ...recorded, ...loaded }).filter((file) => recorded[file] !== loaded[file]).sort();
    if (changed.length > 0)
      throw new ValidationError(
        [{ path, message: `${manifest.name} ${manifest.version} on disk differs from the package recorded under that version (${changed.join(", ")}); a changed package needs a new version` }],
        "the scenario's model changed without a new version",
      );
    const entry = { model, rowId: row.id };
    this.models.set(name, entry);
    return entry;
  }

  /** Cancels a job: the caller's own, or anyone's for an admin. */
  async cancel(jobId: string) {
    const job = await this.db.prisma.generationJob.findUnique({ where: { id: jobId } });
    if (!job) throw new NotFoundError("job", jobId);
    requireOwnerOrAdmin("cancelJob", job.ownerKeyId);
    await cancelJob(this.db, jobId);
    this.events.changed(jobId);
    return job.id;
  }

  /** Regenerates a sample from its provenance record alone and compares the file hash. */
  async reproduce(sampleId: string): Promise<ReproductionReport> {
    const sample = await this.db.prisma.sample.findUnique({ where: { id: sampleId }, include: { artifact: true } });
    if (!sample) throw new NotFoundError("sample", sampleId);
    if (sample.status !== "OK" || !sample.artifact) throw new ReproductionUnavailableError(`sample ${sampleId} failed (${sample.error ?? "no artifact"}); there is nothing to reproduce`);
    const record = storedRecord(sample.provenance);
    if (!record) throw new ReproductionUnavailableError(`sample ${sampleId} has no generation record`);
    const started = performance.now();
    try {
      const threads = this.config.onnxThreads > 0 ? { intraOpThreads: this.config.onnxThreads } : {};
      const reproduction = record["hazardInsertion"]
        ? await reproduceFrameSample(record, { modelsDir: this.config.modelsDir, readFrame: (sha256) => this.store.readBytes(sha256), maxImagePixels: this.config.maxImagePixels, ...threads })
        : await reproduceFromRecord(record, this.config.modelsDir, threads);
      return {
        sampleId,
        // The files beside the main artifact (medical: DICOM, ground truth, SEG) must come out the same too.
        matches: reproduction.sha256 === sample.artifact.sha256 && sameFiles(sample.files, reproduction.files),
        expectedSha256: sample.artifact.sha256,
        actualSha256: reproduction.sha256,
        executionProvider: record.executionProvider,
        seconds: (performance.now() - started) / 1000,
      };
    } catch (error) {
      if (error instanceof ReproductionError) throw new ReproductionUnavailableError(error.message);
      throw error;
    }
  }

  /** Resolves once the job has ended (or is gone), true, or as soon as `signal` aborts, false. */
  async untilFinished(jobId: string, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const job = await this.db.prisma.generationJob.findUnique({ where: { id: jobId }, select: { status: true } });
      if (!job || isTerminal(job.status)) return true;
      await this.events.next(jobId, 500, signal);
    }
    return false;
  }

  progress(jobId: string, signal?: AbortSignal): AsyncGenerator<JobProgress> {
    return watchProgress(this.db, this.events, jobId, signal ? { signal } : {});
  }
}


/** Stored `Sample.files` entries and regenerated files name the same roles with the same hashes. */
function sameFiles(stored: unknown, regenerated: { role: string; sha256: string }[]): boolean {
  const list = Array.isArray(stored) ? (stored as { role: string; sha256: string }[]) : [];
  const key = (files: { role: string; sha256: string }[]) => files.map((f) => `${f.role}:${f.sha256}`).sort().join(",");
  return key(list) === key(regenerated);
}
