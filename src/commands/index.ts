import type { Command } from "commander";

/** Every subcommand module exports a `register…Command(program)`; add new ones here. */
export function registerCommands(program: Command): void {
  void program;
}
