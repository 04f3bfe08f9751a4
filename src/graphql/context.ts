import type { Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import type { Logger } from "../logger.ts";
import type { ModelCatalog } from "./managers/model-catalog.ts";
import type { ExportManager } from "./managers/exports.ts";
import type { JobManager } from "./managers/jobs.ts";
import type { ScenarioManager } from "./managers/scenarios.ts";
import type { DetectorManager } from "./managers/detectors.ts";
import type { ReportManager } from "./managers/reports.ts";
import type { SearchManager } from "./managers/search.ts";

/** What every resolver receives: the database, configuration and one manager per domain. */
export interface Services {
  config: Config;
  db: Database;
  logger: Logger;
  models: ModelCatalog;
  scenarios: ScenarioManager;
  jobs: JobManager;
  exports: ExportManager;
  detectors: DetectorManager;
  reports: ReportManager;
  searches: SearchManager;
}

export type GraphQLContext = Services;
