// `rareforge audit`: the audit log, newest first, as a table or JSON lines; read on the database directly as the
// machine itself (every domain's entries). The filters are the auditLog query's; AuditLog.list checks them.
import type { Command } from "commander";
import { ApiKeyService, AuditLog, type AuditFilter } from "../access/index.ts";
import { loadConfig } from "../config.ts";
import { ValidationError } from "../errors.ts";
import type { AuditEntry } from "../generated/prisma/client.ts";
import { createLogger } from "../logger.ts";
import { reportFailure, withDatabase } from "./database.ts";
import { parseInstant } from "./instants.ts";
import { formatInstant, textTable } from "./text-table.ts";

/** The embedded database has one owner: what to do while a server is it. */
const WHILE_SERVING = "the audit log lives in that database: while the server runs, read it with its admin GraphQL query auditLog";
/** Targets shown per row of the table (JSON lines carry them all). */
const TABLE_TARGETS = 2;

export interface AuditCommandOptions {
  /** A key's id or prefix (rf_…). */
  key?: string;
  operation?: string;
  kind?: string;
  outcome?: string;
  target?: string;
  since?: string;
  until?: string;
  limit?: string;
}

function parseLimit(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n)) throw new ValidationError([{ path: "--limit", message: `expected a whole number, got "${text}"` }], "invalid audit filter");
  return n;
}

/** The entries the options select, newest first. */
export async function auditEntries(on: { keys: ApiKeyService; audit: AuditLog }, options: AuditCommandOptions): Promise<AuditEntry[]> {
  const filter: AuditFilter = {
    keyId: options.key === undefined ? null : (await on.keys.find(options.key)).id,
    operation: options.operation ?? null,
    // an unknown kind is refused by the filter's schema, with the allowed ones
    kind: (options.kind?.toLowerCase() ?? null) as AuditFilter["kind"],
    outcome: options.outcome ?? null,
    targetId: options.target ?? null,
    since: options.since === undefined ? null : parseInstant("--since", options.since),
    until: options.until === undefined ? null : parseInstant("--until", options.until),
    first: options.limit === undefined ? null : parseLimit(options.limit),
  };
  return on.audit.list(filter);
}

/** An entry as a JSON line: its id as a string (a bigint has no JSON form). */
export function entryJson(entry: AuditEntry) {
  return { ...entry, id: String(entry.id) };
}

export function formatAuditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return "no audit entries\n";
  const rows = entries.map((e) => {
    const shown = e.targetIds.slice(0, TABLE_TARGETS).join(",");
    const more = e.targetIds.length > TABLE_TARGETS ? ` +${e.targetIds.length - TABLE_TARGETS}` : "";
    return [formatInstant(e.at), e.keyPrefix ?? "-", e.kind, e.operation, e.outcome, `${shown}${more}` || "-", e.domain?.toLowerCase() ?? "-", e.clientAddress ?? "-"];
  });
  return textTable(["at", "key", "kind", "operation", "outcome", "targets", "domain", "client"], rows);
}

export function registerAuditCommand(program: Command): void {
  program
    .command("audit")
    .description("the audit log, newest first: every mutation, and every read or download of medical data (on the database directly; with the embedded database, stop the server first)")
    .option("--key <id|prefix>", "what one API key did (its requests; changes made with `rareforge keys` are the CLI's: see --target)")
    .option("--operation <name>", "a GraphQL field or route, e.g. createApiKey, GET /artifacts")
    .option("--kind <kind>", "mutation | query | subscription | download")
    .option("--outcome <outcome>", "OK, an error type (NotFoundError), FORBIDDEN or ERROR")
    .option("--target <id>", "entries naming this id")
    .option("--since <instant>", "from this ISO date or date-time on")
    .option("--until <instant>", "before this ISO date or date-time")
    .option("--limit <n>", "at most n entries (1 … 1000, default 100)")
    .option("--json", "one JSON line per entry")
    .action(async (options: AuditCommandOptions & { json?: boolean }) => {
      try {
        const config = loadConfig();
        const entries = await withDatabase(config, (db) => auditEntries({ keys: new ApiKeyService(db), audit: new AuditLog(db, createLogger(config.logLevel)) }, options));
        process.stdout.write(options.json ? entries.map((e) => `${JSON.stringify(entryJson(e))}\n`).join("") : formatAuditTable(entries));
      } catch (error) {
        reportFailure("audit", error, WHILE_SERVING);
      }
    });
}
