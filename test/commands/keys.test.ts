// `rareforge keys`: a created key authenticates with the role and scopes asked for, a list never shows a secret,
// a revoked key is refused, a rotated key's old secret is refused and its new one works, and every change is in
// the audit log as the CLI's. Then the command as a user runs it, on an embedded database, and while a server holds it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyService, AuditLog } from "../../src/access/index.ts";
import { createKey, formatIssuedKey, formatKeyTable, listKeys, revokeKey, rotateKey, visibleKey, type KeyStore } from "../../src/commands/keys.ts";
import { databaseOptionsFromConfig, openDatabase, type Database } from "../../src/db/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { createLogger } from "../../src/logger.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DAY_MS = 86_400_000;

describe("keys commands", () => {
  let db: Database;
  let store: KeyStore;
  /** A second service on the same database: what another process (the server) sees, with no cache of its own. */
  let elsewhere: ApiKeyService;

  beforeAll(async () => {
    db = await openDatabase({ kind: "pglite" });
    await db.migrate();
    store = { keys: new ApiKeyService(db), audit: new AuditLog(db, createLogger("silent")) };
    elsewhere = new ApiKeyService(db);
  });
  afterAll(async () => {
    await db?.close();
  });

  it("create: the printed secret authenticates with the role and scopes asked for, and expires when asked", async () => {
    const before = Date.now();
    const issued = await createKey(store, { name: "ci pipeline", role: "operator", scopes: "automotive, MEDICAL", expires: "90d" });
    const caller = await elsewhere.authenticate(issued.secret, "127.0.0.1");
    expect(caller).toMatchObject({ keyId: issued.key.id, label: issued.key.prefix, role: "OPERATOR" });
    expect([...caller!.scopes].sort()).toEqual(["AUTOMOTIVE", "MEDICAL"]);
    expect(issued.key.expiresAt!.getTime() - before).toBeGreaterThanOrEqual(90 * DAY_MS);
    expect(issued.key.expiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(90 * DAY_MS);

    const printed = formatIssuedKey(issued, "created API key");
    expect(printed).toContain(issued.secret);
    expect(printed).toContain(`${issued.key.prefix} "ci pipeline" (operator; automotive, medical; expires `);
    expect(printed).toContain(`id ${issued.key.id}`);
  });

  it("create: an ISO expiry is kept as given; a viewer of one domain sees only that domain", async () => {
    const issued = await createKey(store, { name: "auditor", role: "VIEWER", scopes: "medical", expires: "2999-01-31T12:00Z" });
    expect(issued.key.expiresAt?.toISOString()).toBe("2999-01-31T12:00:00.000Z");
    const caller = await elsewhere.authenticate(issued.secret, null);
    expect(caller?.role).toBe("VIEWER");
    expect([...caller!.scopes]).toEqual(["MEDICAL"]);
  });

  it("create refuses an unknown role or scope with the allowed ones, an unreadable or past expiry, and writes no key", async () => {
    const count = await store.keys.count();
    await expect(createKey(store, { name: "x", role: "root", scopes: "automotive" })).rejects.toThrow('--role: expected one of viewer, operator, admin, got "root"');
    await expect(createKey(store, { name: "x", role: "viewer", scopes: "automotive,cars" })).rejects.toThrow('--scopes: expected one of automotive, medical, got "cars"');
    await expect(createKey(store, { name: "x", role: "viewer", scopes: "" })).rejects.toThrow("a key needs at least one domain scope");
    await expect(createKey(store, { name: "x", role: "viewer", scopes: "automotive", expires: "next week" })).rejects.toThrow(/--expires: expected an ISO date or date-time .* or a duration from now \(12h, 90d, 8w\), got "next week"/);
    await expect(createKey(store, { name: "x", role: "viewer", scopes: "automotive", expires: "2001-01-01" })).rejects.toThrow("the expiry must be in the future");
    await expect(createKey(store, { name: " ", role: "viewer", scopes: "automotive" })).rejects.toBeInstanceOf(ValidationError);
    expect(await store.keys.count()).toBe(count);
  });

  it("list shows prefix, name, role, scopes and dates of every key, never a secret or its hash", async () => {
    const issued = await createKey(store, { name: "listed", role: "admin", scopes: "automotive" });
    const keys = await listKeys(store);
    const table = formatKeyTable(keys);
    expect(table.split("\n")[0]).toMatch(/^prefix +name +role +scopes +created +expires +revoked +last used$/);
    expect(table).toMatch(new RegExp(`${issued.key.prefix} +listed +admin +automotive +\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}Z +- +- +-`));
    const json = keys.map((key) => JSON.stringify(visibleKey(key))).join("\n");
    expect(json).toContain(issued.key.prefix);
    for (const printed of [table, json]) {
      expect(printed).not.toContain(issued.secret);
      expect(printed).not.toContain(issued.secret.slice(issued.key.prefix.length));
      for (const key of keys) expect(printed).not.toContain(key.secretHash);
    }
    expect(Object.keys(visibleKey(issued.key))).not.toContain("secretHash");
  });

  it("revoke, by prefix or id: the key is refused from then on, here and in another process", async () => {
    const byPrefix = await createKey(store, { name: "revoked by prefix", role: "viewer", scopes: "automotive" });
    const byId = await createKey(store, { name: "revoked by id", role: "viewer", scopes: "automotive" });
    expect(await store.keys.authenticate(byPrefix.secret, null)).not.toBeNull();
    const revoked = await revokeKey(store, byPrefix.key.prefix);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    await revokeKey(store, byId.key.id);
    for (const service of [store.keys, new ApiKeyService(db)]) {
      expect(await service.authenticate(byPrefix.secret, null)).toBeNull();
      expect(await service.authenticate(byId.secret, null)).toBeNull();
    }
    const row = formatKeyTable(await listKeys(store)).split("\n").find((line) => line.startsWith(byPrefix.key.prefix))!;
    expect(row.split(/ {2,}/)[6]).toBe(`${revoked.revokedAt!.toISOString().slice(0, 16).replace("T", " ")}Z`);
    await expect(revokeKey(store, "rf_000000000000")).rejects.toThrow("API key rf_000000000000 not found");
  });

  it("rotate: the old secret is refused, the new one works with the same name, role and scopes", async () => {
    const old = await createKey(store, { name: "rotated", role: "operator", scopes: "medical", expires: "30d" });
    const rotated = await rotateKey(store, old.key.prefix);
    expect(rotated.secret).not.toBe(old.secret);
    expect(rotated.key).toMatchObject({ name: "rotated", role: "OPERATOR", scopes: ["MEDICAL"], expiresAt: old.key.expiresAt, rotatedFromId: old.key.id });
    const fresh = new ApiKeyService(db);
    expect(await fresh.authenticate(old.secret, null)).toBeNull();
    expect(await fresh.authenticate(rotated.secret, null)).toMatchObject({ keyId: rotated.key.id, role: "OPERATOR" });
    await expect(rotateKey(store, old.key.id)).rejects.toThrow(`key ${old.key.prefix} is revoked; create a new one`);
  });

  it("every change, done or refused, is audited as the CLI's under the admin mutation's name", async () => {
    const issued = await createKey(store, { name: "audited", role: "viewer", scopes: "automotive" });
    await revokeKey(store, issued.key.prefix);
    await expect(rotateKey(store, issued.key.prefix)).rejects.toThrow();
    const [rotate, revoke, create] = await store.audit.list({ first: 3 });
    expect(create).toMatchObject({ keyId: null, keyPrefix: "cli", kind: "mutation", operation: "createApiKey", outcome: "OK", targetIds: [issued.key.id] });
    expect(revoke).toMatchObject({ keyPrefix: "cli", operation: "revokeApiKey", outcome: "OK", targetIds: [issued.key.prefix, issued.key.id] });
    expect(rotate).toMatchObject({ keyPrefix: "cli", operation: "rotateApiKey", outcome: "ValidationError", targetIds: [issued.key.prefix] });
  });
});

describe("rareforge keys, as a user runs it", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-keys-cli-"));
    // migrated here, so each command below only opens it
    const db = await openDatabase(databaseOptionsFromConfig({ dataDir }));
    await db.migrate();
    await db.close();
  });
  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, LOG_LEVEL: "silent" },
      encoding: "utf8",
      timeout: 60_000,
    });

  it("create --json prints the key and its secret once; list never shows it; revoke ends it; audit shows both changes", async () => {
    const created = cli("keys", "create", "--name", "ci", "--role", "operator", "--scopes", "automotive", "--json");
    expect(created.stderr).toBe("");
    expect(created.status).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ name: "ci", role: "OPERATOR", scopes: ["AUTOMOTIVE"], expiresAt: null, revokedAt: null });
    expect(key.secret.startsWith(`${key.prefix}_`)).toBe(true);
    expect(key).not.toHaveProperty("secretHash");

    const listed = cli("keys", "list");
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${key.prefix} +ci +operator +automotive `, "m"));
    expect(listed.stdout).not.toContain(key.secret);

    const revoked = cli("keys", "revoke", key.prefix);
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked API key ${key.prefix} "ci" .* at \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}Z$`, "m"));

    const audit = cli("audit", "--target", key.id, "--json");
    expect(audit.status).toBe(0);
    const entries = audit.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(entries.map((e) => [e.operation, e.outcome, e.keyPrefix])).toEqual([
      ["revokeApiKey", "OK", "cli"],
      ["createApiKey", "OK", "cli"],
    ]);

    const db = await openDatabase(databaseOptionsFromConfig({ dataDir }));
    try {
      expect(await new ApiKeyService(db).authenticate(key.secret, null)).toBeNull();
    } finally {
      await db.close();
    }
  }, 180_000);

  it("an unknown key is a NotFoundError with exit code 2", () => {
    const run = cli("keys", "rotate", "rf_000000000000");
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("rareforge keys rotate: NotFoundError: API key rf_000000000000 not found\n");
  });

  it("while a server holds the embedded database, says to stop it or use the admin GraphQL mutations", async () => {
    // this test process holds the data directory's lock, as a running server would
    const db = await openDatabase(databaseOptionsFromConfig({ dataDir }));
    try {
      const run = cli("keys", "list");
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^rareforge keys list: the data directory .* is in use by process ${process.pid} .*; stop it, or set RAREFORGE_DATA_DIR to another directory; `));
      expect(run.stderr).toContain("while the server runs, manage them with its admin GraphQL mutations createApiKey, revokeApiKey and rotateApiKey");
      const audit = cli("audit");
      expect(audit.status).toBe(1);
      expect(audit.stderr).toContain("while the server runs, read it with its admin GraphQL query auditLog");
    } finally {
      await db.close();
    }
  }, 120_000);
});
