// The domain services one process runs, built once and shared by GraphQL resolvers, CLI commands and the
// HTTP routes: each validates its input, stores, and returns a result or a typed error (src/errors.ts).
import type { PgBoss } from "pg-boss";
import { ApiKeyService, ArtifactUrlSigner, AuditLog, scopedToCaller } from "./access/index.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/index.ts";
import { DetectorService, ReportService } from "./detection/index.ts";
import { ExportService } from "./export/index.ts";
import { JobEvents, JobService } from "./jobs/index.ts";
import type { Logger } from "./logger.ts";
import { directoryModelCatalog, ScenarioService, type ModelCatalog } from "./scenarios/index.ts";
import { pacsSettings, PacsService } from "./pacs/index.ts";
import { SearchService } from "./search/index.ts";
import { SuiteService } from "./suites/index.ts";
import type { ArtifactStore } from "./storage/index.ts";
import { referenceScanSettings, ReferenceScanService, ReferenceSetService } from "./uploads/index.ts";

export interface Services {
  config: Config;
  /** Scoped: while work runs as a caller, its reads see only the caller's domains (access/scoping.ts). */
  db: Database;
  /** The same database unscoped, for what must see every row (which domains an artifact belongs to). */
  unscopedDb: Database;
  keys: ApiKeyService;
  audit: AuditLog;
  artifactUrls: ArtifactUrlSigner;
  logger: Logger;
  store: ArtifactStore;
  models: ModelCatalog;
  scenarios: ScenarioService;
  jobs: JobService;
  exports: ExportService;
  detectors: DetectorService;
  reports: ReportService;
  searches: SearchService;
  suites: SuiteService;
  referenceScans: ReferenceScanService;
  pacs: PacsService;
  referenceSets: ReferenceSetService;
}

export function buildServices(config: Config, unscopedDb: Database, logger: Logger, boss: PgBoss, store: ArtifactStore, urlSigningKey: Buffer): Services {
  const db: Database = { ...unscopedDb, prisma: scopedToCaller(unscopedDb.prisma) };
  const models = directoryModelCatalog(config.modelsDir);
  const jobs = new JobService(db, boss, config, new JobEvents(), store);
  const referenceSets = new ReferenceSetService(db);
  const scenarios = new ScenarioService(db, models, referenceSets);
  const detectors = new DetectorService(db, config, store, logger);
  const searches = new SearchService(db, config, jobs, detectors, scenarios, logger);
  const referenceScans = new ReferenceScanService(db, store, referenceScanSettings(config));
  return {
    config,
    db,
    unscopedDb,
    keys: new ApiKeyService(unscopedDb),
    audit: new AuditLog(db, logger),
    artifactUrls: new ArtifactUrlSigner(urlSigningKey, config.signedUrlSeconds),
    logger,
    store,
    models,
    scenarios,
    jobs,
    exports: new ExportService(db, store),
    detectors,
    reports: new ReportService(db, detectors),
    searches,
    referenceScans,
    pacs: new PacsService(db, store, referenceScans, pacsSettings(config)),
    suites: new SuiteService(db, config, jobs, detectors, logger),
    referenceSets,
  };
}
