import type { Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import type { Logger } from "../logger.ts";
import type { ModelCatalog } from "./managers/model-catalog.ts";
import type { ExportManager } from "./managers/exports.ts";
import type { JobManager } from "./managers/jobs.ts";
import type { ScenarioManager } from "./managers/scenarios.ts";

/** What every resolver receives: the database, configuration and one manager per domain. */
export interface Services {
  config: Config;
  db: Database;
  logger: Logger;
  models: ModelCatalog;
  scenarios: ScenarioManager;
  jobs: JobManager;
  exports: ExportManager;
}

export type GraphQLContext = Services;
