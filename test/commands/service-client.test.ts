// The commands that ask a running service (report, search) send an API key: --key, else RAREFORGE_API_KEY, else
// the data directory's secrets/admin-key; a service that refuses it gets a message naming those three ways.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchReport } from "../../src/commands/report.ts";
import { runSearch } from "../../src/commands/search.ts";
import { resolveServiceKey, subscriptionEvents, type ServiceKey } from "../../src/commands/service-client.ts";
import { loadConfig } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const THREE_WAYS = /give one with --key <key>, set RAREFORGE_API_KEY, or run where the service's data directory \(RAREFORGE_DATA_DIR\) holds secrets\/admin-key/;
const JOB_ID = "00000000-0000-4000-8000-000000000000";

describe("the key a command sends", () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-service-key-"));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("is --key first, then RAREFORGE_API_KEY, then the data directory's secrets/admin-key", async () => {
    mkdirSync(path.join(dataDir, "secrets"));
    writeFileSync(path.join(dataDir, "secrets", "admin-key"), "rf_from-the-file\n");
    const config = loadConfig({ RAREFORGE_API_KEY: "rf_from-the-environment" }, { dataDir });
    expect(config.apiKey).toBe("rf_from-the-environment");

    expect(await resolveServiceKey("rf_given", config)).toEqual({ secret: "rf_given", source: "--key" });
    expect(await resolveServiceKey(undefined, config)).toEqual({ secret: "rf_from-the-environment", source: "RAREFORGE_API_KEY" });
    expect(await resolveServiceKey(undefined, { dataDir })).toEqual({ secret: "rf_from-the-file", source: path.join(dataDir, "secrets", "admin-key") });
  });

  it("is none when no place has one, and says where it looked last", async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), "rareforge-no-key-"));
    try {
      expect(await resolveServiceKey(undefined, loadConfig({}, { dataDir: empty }))).toEqual({ secret: null, source: path.join(empty, "secrets", "admin-key") });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("report and search against a service that requires keys", () => {
  let db: Database;
  let api: TestService;
  let admin: ServiceKey;
  const none: ServiceKey = { secret: null, source: "/nowhere/secrets/admin-key" };

  beforeAll(async () => {
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { runWorker: false, importLibraryOnStart: false });
    admin = { secret: api.adminKey, source: "--key" };
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
  });

  it("report sends the key: with it the service answers (here: no such detector)", async () => {
    await expect(fetchReport({ url: api.service.url, apiKey: admin, job: JOB_ID, detector: "nobody" })).rejects.toThrow(/^no detector "nobody"; registered: /);
  });

  it("report without a key is refused with the three ways to give one", async () => {
    const refusal = fetchReport({ url: api.service.url, apiKey: none, job: JOB_ID, detector: "nobody" });
    await expect(refusal).rejects.toThrow(/needs an API key and none was found \(no --key, no RAREFORGE_API_KEY, no \/nowhere\/secrets\/admin-key\)/);
    await expect(refusal).rejects.toThrow(THREE_WAYS);
    await expect(refusal).rejects.toMatchObject({ name: "CommandInputError" });
  });

  it("a revoked key is refused naming where it came from and its prefix only", async () => {
    const issued = await api.service.services.keys.create({ name: "soon revoked", role: "VIEWER", scopes: ["AUTOMOTIVE"] });
    await api.service.services.keys.revoke(issued.key.id);
    const refusal = fetchReport({ url: api.service.url, apiKey: { secret: issued.secret, source: "RAREFORGE_API_KEY" }, job: JOB_ID, detector: "nobody" });
    await expect(refusal).rejects.toThrow(new RegExp(`refused the API key from RAREFORGE_API_KEY \\(${issued.key.prefix}…: unknown, revoked or expired\\)`));
    await expect(refusal).rejects.toThrow(THREE_WAYS);
    await expect(refusal).rejects.not.toThrow(issued.secret);
  });

  it("search sends the key on its queries: with it the service answers, without it the request is refused", async () => {
    await expect(runSearch({ url: api.service.url, apiKey: admin, scenario: "nowhere", detector: "nobody", budget: 8, method: "cem" })).rejects.toThrow(/^no (scenario named "nowhere"|detector "nobody")/);
    await expect(runSearch({ url: api.service.url, apiKey: none, scenario: "nowhere", detector: "nobody", budget: 8, method: "cem" })).rejects.toThrow(THREE_WAYS);
  });

  it("the progress subscription sends the key too", async () => {
    const query = `subscription($id: ID!) { searchProgress(searchId: $id) { status } }`;
    const read = async (key: ServiceKey) => {
      const payloads = [];
      for await (const payload of subscriptionEvents(`${api.service.url}/graphql`, key, query, { id: "no-such-search" })) payloads.push(payload);
      return payloads;
    };
    const answered = await read(admin);
    expect(answered.length).toBeGreaterThan(0);
    expect(JSON.stringify(answered)).not.toMatch(/authentication required/);
    await expect(read(none)).rejects.toThrow(THREE_WAYS);
  });
});
