// `rareforge keys create|list|revoke|rotate`: API keys, managed on the database directly as the machine itself
// (like export and upload: no key needed). A secret is printed once, when it is made (create, rotate); list never
// shows one. Each change is audited as the CLI (no key id) under the name of the admin mutation that does the
// same, so `rareforge audit --operation createApiKey` finds both.
import type { Command } from "commander";
import { ApiKeyService, AuditLog, DOMAINS, ROLES, type IssuedApiKey } from "../access/index.ts";
import { loadConfig } from "../config.ts";
import { ValidationError } from "../errors.ts";
import type { ApiKey } from "../generated/prisma/client.ts";
import { createLogger } from "../logger.ts";
import { auditedAsCli } from "./cli-audit.ts";
import { reportFailure, withDatabase } from "./database.ts";
import { parseInstantOrDuration } from "./instants.ts";
import { formatInstant, textTable } from "./text-table.ts";

/** The embedded database has one owner: what to do while a server is it. */
const WHILE_SERVING = "API keys live in that database: while the server runs, manage them with its admin GraphQL mutations createApiKey, revokeApiKey and rotateApiKey (and the apiKeys query)";

/** What the key commands work on. */
export interface KeyStore {
  keys: ApiKeyService;
  audit: AuditLog;
}

/** `keys create` as typed: role and scopes in any case (`viewer`, `automotive,medical`), expiry as an instant or a duration. */
export interface CreateKeyOptions {
  name: string;
  role: string;
  scopes: string;
  expires?: string;
}

/** `operator` -> OPERATOR; a value outside `allowed` is refused with the allowed ones. */
function oneOf<T extends string>(option: string, allowed: readonly T[], text: string): T {
  const value = text.trim().toUpperCase();
  const match = allowed.find((a) => a === value);
  if (!match) throw new ValidationError([{ path: option, message: `expected one of ${allowed.map((a) => a.toLowerCase()).join(", ")}, got "${text.trim()}"` }], "invalid API key");
  return match;
}

/** A key change, audited as the CLI's under the admin mutation's name. */
const audited = <T>(audit: AuditLog, operation: string, given: string[], change: () => Promise<T>, touched: (result: T) => string[]) =>
  auditedAsCli(audit, { operation, targets: given, domain: null }, change, touched);

export async function createKey(store: KeyStore, options: CreateKeyOptions): Promise<IssuedApiKey> {
  const input = {
    name: options.name,
    role: oneOf("--role", ROLES, options.role),
    scopes: options.scopes.split(",").filter((s) => s.trim() !== "").map((s) => oneOf("--scopes", DOMAINS, s)),
    expiresAt: options.expires === undefined ? null : parseInstantOrDuration("--expires", options.expires),
  };
  return audited(store.audit, "createApiKey", [], () => store.keys.create(input), (issued) => [issued.key.id]);
}

export function listKeys(store: KeyStore): Promise<ApiKey[]> {
  return store.keys.list();
}

export function revokeKey(store: KeyStore, idOrPrefix: string): Promise<ApiKey> {
  return audited(store.audit, "revokeApiKey", [idOrPrefix], () => store.keys.revoke(idOrPrefix), (key) => [key.id]);
}

export function rotateKey(store: KeyStore, idOrPrefix: string): Promise<IssuedApiKey> {
  return audited(store.audit, "rotateApiKey", [idOrPrefix], () => store.keys.rotate(idOrPrefix), (issued) => [issued.key.rotatedFromId, issued.key.id].filter((id) => id !== null));
}

/** A key as printed: named fields only, so a secret's hash (or any column added later) never shows by accident. */
export function visibleKey(key: ApiKey) {
  return {
    id: key.id,
    prefix: key.prefix,
    name: key.name,
    role: key.role,
    scopes: key.scopes,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    lastUsedAt: key.lastUsedAt,
    rotatedFromId: key.rotatedFromId,
  };
}

function describeKey(key: ApiKey): string {
  const expiry = key.expiresAt ? `expires ${formatInstant(key.expiresAt)}` : "no expiry";
  return `${key.prefix} "${key.name}" (${key.role.toLowerCase()}; ${key.scopes.join(", ").toLowerCase()}; ${expiry}; id ${key.id})`;
}

export function formatIssuedKey(issued: IssuedApiKey, what: string): string {
  return `${what} ${describeKey(issued.key)}\nits secret, shown this once (only its hash is stored); send it as "Authorization: Bearer <key>":\n\n${issued.secret}\n`;
}

export function formatKeyTable(keys: ApiKey[], now = Date.now()): string {
  if (keys.length === 0) return "no API keys\n";
  const rows = keys.map((k) => [
    k.prefix,
    k.name,
    k.role.toLowerCase(),
    k.scopes.join(",").toLowerCase(),
    formatInstant(k.createdAt),
    k.expiresAt && k.expiresAt.getTime() <= now ? `${formatInstant(k.expiresAt)} (expired)` : formatInstant(k.expiresAt),
    formatInstant(k.revokedAt),
    formatInstant(k.lastUsedAt),
  ]);
  return textTable(["prefix", "name", "role", "scopes", "created", "expires", "revoked", "last used"], rows);
}

const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** Opens the database, runs one key command on it, and reports a failure the way the other database commands do. */
async function onKeyStore(command: string, work: (store: KeyStore) => Promise<void>): Promise<void> {
  try {
    const config = loadConfig();
    await withDatabase(config, (db) => work({ keys: new ApiKeyService(db), audit: new AuditLog(db, createLogger(config.logLevel)) }));
  } catch (error) {
    reportFailure(command, error, WHILE_SERVING);
  }
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command("keys").description("create, list, revoke and rotate API keys (on the database directly; with the embedded database, stop the server first)");

  keys
    .command("create")
    .description("a new key; prints its secret once")
    .requiredOption("--name <name>", "who or what holds it, e.g. ci-pipeline")
    .requiredOption("--role <role>", `${ROLES.map((r) => r.toLowerCase()).join(" | ")}`)
    .requiredOption("--scopes <domains>", `comma-separated domains it may see: ${DOMAINS.map((d) => d.toLowerCase()).join(",")}`)
    .option("--expires <when>", "ISO date or date-time (2026-03-01, 2026-03-01T12:00Z) or a duration from now (12h, 90d, 8w); default never")
    .option("--json", "print the key and its secret as one JSON line")
    .action((options: CreateKeyOptions & { json?: boolean }) =>
      onKeyStore("keys create", async (store) => {
        const issued = await createKey(store, options);
        if (options.json) printJson({ ...visibleKey(issued.key), secret: issued.secret });
        else process.stdout.write(formatIssuedKey(issued, "created API key"));
      }),
    );

  keys
    .command("list")
    .description("every key, revoked ones too (never a secret)")
    .option("--json", "one JSON line per key")
    .action((options: { json?: boolean }) =>
      onKeyStore("keys list", async (store) => {
        const all = await listKeys(store);
        if (options.json) all.forEach((key) => printJson(visibleKey(key)));
        else process.stdout.write(formatKeyTable(all));
      }),
    );

  keys
    .command("revoke")
    .description("revoke a key: refused from then on (a running server stops trusting it within seconds)")
    .argument("<id|prefix>", "the key's id or its prefix (rf_…)")
    .option("--json", "print the revoked key as one JSON line")
    .action((idOrPrefix: string, options: { json?: boolean }) =>
      onKeyStore("keys revoke", async (store) => {
        const key = await revokeKey(store, idOrPrefix);
        if (options.json) printJson(visibleKey(key));
        else process.stdout.write(`revoked API key ${describeKey(key)} at ${formatInstant(key.revokedAt)}\n`);
      }),
    );

  keys
    .command("rotate")
    .description("a new secret for a key (same name, role, scopes and expiry); the old one is revoked; prints the new secret once")
    .argument("<id|prefix>", "the key's id or its prefix (rf_…)")
    .option("--json", "print the new key and its secret as one JSON line")
    .action((idOrPrefix: string, options: { json?: boolean }) =>
      onKeyStore("keys rotate", async (store) => {
        const issued = await rotateKey(store, idOrPrefix);
        if (options.json) printJson({ ...visibleKey(issued.key), secret: issued.secret });
        else process.stdout.write(formatIssuedKey(issued, `rotated ${idOrPrefix}: new API key`));
      }),
    );
}
