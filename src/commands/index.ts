import type { Command } from "commander";
import { registerAuditCommand } from "./audit.ts";
import { registerExportCommand } from "./export.ts";
import { registerGenerateCommand } from "./generate.ts";
import { registerKeysCommand } from "./keys.ts";
import { registerInsertHazardCommand } from "./insert-hazard.ts";
import { registerMigrateCommand } from "./migrate.ts";
import { registerPacsCommand } from "./pacs.ts";
import { registerReferenceSetCommand } from "./reference-set.ts";
import { registerReportCommand } from "./report.ts";
import { registerScoreCommand } from "./score.ts";
import { registerSearchCommand } from "./search.ts";
import { registerServeCommand } from "./serve.ts";
import { registerSuiteCommand } from "./suite.ts";
import { registerUploadCommand } from "./upload.ts";
import { registerWorkerCommand } from "./worker.ts";

/** Every subcommand module exports a `register…Command(program)`; add new ones here. */
export function registerCommands(program: Command): void {
  registerServeCommand(program);
  registerMigrateCommand(program);
  registerGenerateCommand(program);
  registerExportCommand(program);
  registerScoreCommand(program);
  registerReportCommand(program);
  registerSearchCommand(program);
  registerSuiteCommand(program);
  registerWorkerCommand(program);
  registerUploadCommand(program);
  registerKeysCommand(program);
  registerAuditCommand(program);
  registerInsertHazardCommand(program);
  registerPacsCommand(program);
  registerReferenceSetCommand(program);
}
