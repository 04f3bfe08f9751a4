#!/usr/bin/env node
// The installed `rareforge`: registers tsx's loader in this process and runs the TypeScript CLI here, so it needs
// no build step and no child process. Signals reach the CLI itself: SIGTERM or SIGINT to `rareforge serve`
// shuts the server down cleanly, and the exit status is the CLI's own.
import { register } from "tsx/esm/api";

register();
await import(new URL("../src/cli.ts", import.meta.url).href);
