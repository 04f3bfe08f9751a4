#!/usr/bin/env node
// The `rareforge` command line: each subcommand lives in src/commands/ and registers itself here.
import { Command } from "commander";
import { registerCommands } from "./commands/index.ts";
import { RAREFORGE_VERSION } from "./version.ts";

const program = new Command()
  .name("rareforge")
  .description("Rare-scenario image synthesis with provenance and a detector in the loop")
  .version(RAREFORGE_VERSION);

registerCommands(program);

await program.parseAsync(process.argv);
