import type { Command } from "commander";
import { registerGenerateCommand } from "./generate.ts";
import { registerMigrateCommand } from "./migrate.ts";
import { registerScoreCommand } from "./score.ts";
import { registerServeCommand } from "./serve.ts";
import { registerWorkerCommand } from "./worker.ts";

/** Every subcommand module exports a `register…Command(program)`; add new ones here. */
export function registerCommands(program: Command): void {
  registerServeCommand(program);
  registerMigrateCommand(program);
  registerGenerateCommand(program);
  registerScoreCommand(program);
  registerWorkerCommand(program);
}
