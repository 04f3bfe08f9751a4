// `rareforge audit`: entries recorded through AuditLog.record, newest first, selected by key (id or prefix),
// operation, kind, outcome, target, time and count; a readable table or JSON lines; bad filters refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService, AuditLog, callerOfKey, localCaller, type AuditEvent, type IssuedApiKey } from "../../src/access/index.ts";
import { auditEntries, entryJson, formatAuditTable, type AuditCommandOptions } from "../../src/commands/audit.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { createLogger } from "../../src/logger.ts";

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("rareforge audit", () => {
  let db: Database;
  let on: { keys: ApiKeyService; audit: AuditLog };
  let operator: IssuedApiKey;
  /** Between the second and the third entry. */
  let midway: Date;
  const list = (options: AuditCommandOptions) => auditEntries(on, options);
  const operations = async (options: AuditCommandOptions) => (await list(options)).map((e) => e.operation);

  beforeAll(async () => {
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    on = { keys: new ApiKeyService(db), audit: new AuditLog(db, createLogger("silent")) };
    operator = await on.keys.create({ name: "operator", role: "OPERATOR", scopes: ["AUTOMOTIVE", "MEDICAL"] });
    const asOperator = callerOfKey(operator.key, "10.0.0.7");
    const events: AuditEvent[] = [
      { caller: asOperator, kind: "mutation", operation: "requestGeneration", targetIds: ["scenario-1", "job-1"], outcome: "OK", domain: null },
      { caller: asOperator, kind: "mutation", operation: "uploadReferenceScan", targetIds: [], outcome: "FORBIDDEN", domain: "MEDICAL" },
      { caller: asOperator, kind: "query", operation: "samples", targetIds: ["job-1", "s-1", "s-2", "s-3"], outcome: "OK", domain: "MEDICAL" },
      { caller: localCaller("cli"), kind: "mutation", operation: "revokeApiKey", targetIds: [operator.key.id], outcome: "NotFoundError", domain: null },
      { caller: asOperator, kind: "download", operation: "GET /artifacts", targetIds: ["a".repeat(64)], outcome: "OK", domain: "MEDICAL" },
    ];
    for (const [i, event] of events.entries()) {
      await on.audit.record(event);
      await pause();
      if (i === 1) {
        midway = new Date();
        await pause();
      }
    }
  });
  afterAll(async () => {
    await db?.close();
  });

  it("lists every entry, newest first", async () => {
    expect(await operations({})).toEqual(["GET /artifacts", "revokeApiKey", "samples", "uploadReferenceScan", "requestGeneration"]);
  });

  it("filters by the key that made them, given by prefix or id", async () => {
    const byPrefix = await operations({ key: operator.key.prefix });
    expect(byPrefix).toEqual(["GET /artifacts", "samples", "uploadReferenceScan", "requestGeneration"]);
    expect(await operations({ key: operator.key.id })).toEqual(byPrefix);
    await expect(list({ key: "rf_000000000000" })).rejects.toThrow("API key rf_000000000000 not found");
  });

  it("filters by operation, kind, outcome and target", async () => {
    expect(await operations({ operation: "samples" })).toEqual(["samples"]);
    expect(await operations({ kind: "mutation" })).toEqual(["revokeApiKey", "uploadReferenceScan", "requestGeneration"]);
    expect(await operations({ kind: "Download" })).toEqual(["GET /artifacts"]);
    expect(await operations({ outcome: "FORBIDDEN" })).toEqual(["uploadReferenceScan"]);
    expect(await operations({ target: "job-1" })).toEqual(["samples", "requestGeneration"]);
    expect(await operations({ target: operator.key.id })).toEqual(["revokeApiKey"]);
    expect(await operations({ kind: "mutation", outcome: "OK", key: operator.key.prefix })).toEqual(["requestGeneration"]);
  });

  it("filters by time (--since inclusive, --until exclusive) and count", async () => {
    expect(await operations({ since: midway.toISOString() })).toEqual(["GET /artifacts", "revokeApiKey", "samples"]);
    expect(await operations({ until: midway.toISOString() })).toEqual(["uploadReferenceScan", "requestGeneration"]);
    expect(await operations({ since: "2000-01-01", until: "2000-01-02" })).toEqual([]);
    expect(await operations({ limit: "2" })).toEqual(["GET /artifacts", "revokeApiKey"]);
  });

  it("refuses a bad filter as a ValidationError naming what is allowed", async () => {
    await expect(list({ kind: "delete" })).rejects.toThrow(/kind: .*"mutation"\|"query"\|"subscription"\|"download"/);
    await expect(list({ since: "yesterday" })).rejects.toThrow(/--since: expected an ISO date or date-time such as 2026-03-01 or 2026-03-01T12:00Z, got "yesterday"/);
    await expect(list({ limit: "ten" })).rejects.toThrow('--limit: expected a whole number, got "ten"');
    await expect(list({ limit: "5000" })).rejects.toBeInstanceOf(ValidationError);
  });

  it("prints a table: one row per entry, the first targets and how many more", async () => {
    const table = formatAuditTable(await list({}));
    const [header, , ...rows] = table.trimEnd().split("\n");
    expect(header).toMatch(/^at +key +kind +operation +outcome +targets +domain +client$/);
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}Z +${operator.key.prefix} +download +GET /artifacts +OK +a{64} +medical +10\\.0\\.0\\.7$`));
    expect(rows[1]).toMatch(/ cli +mutation +revokeApiKey +NotFoundError /);
    expect(rows[2]).toMatch(/ query +samples +OK +job-1,s-1 \+2 +medical /);
    expect(rows[3]).toMatch(/ uploadReferenceScan +FORBIDDEN +- +medical /);
    expect(formatAuditTable([])).toBe("no audit entries\n");
  });

  it("prints JSON lines with every field, the id as a string", async () => {
    const [newest] = await list({ limit: "1" });
    const line = JSON.parse(JSON.stringify(entryJson(newest!)));
    expect(line).toEqual({
      id: String(newest!.id),
      at: newest!.at.toISOString(),
      keyId: operator.key.id,
      keyPrefix: operator.key.prefix,
      kind: "download",
      operation: "GET /artifacts",
      targetIds: ["a".repeat(64)],
      outcome: "OK",
      clientAddress: "10.0.0.7",
      domain: "MEDICAL",
    });
  });
});
