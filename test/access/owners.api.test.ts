// Jobs belong to the key that requested them: another operator cannot cancel one (FORBIDDEN, audited), its owner
// and an admin can; keys can be listed, rotated and revoked by admins only, and a key's secret is shown once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { createTinyScenario, jobTestDirs, REQUEST, type JobTestDirs } from "../jobs/helpers.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const CANCEL = `mutation($id: ID!) { cancelJob(id: $id) { __typename } }`;

describe("owners and keys", () => {
  let dirs: JobTestDirs;
  let db: Database;
  let api: TestService;
  let scenarioId: string;

  beforeAll(async () => {
    dirs = jobTestDirs();
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: dirs.modelsDir, dataDir: dirs.dataDir, importLibraryOnStart: false, runWorker: false });
    scenarioId = await createTinyScenario(api);
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await db?.close();
    dirs?.remove();
  });

  const requestAs = async (key: string) => {
    const result = await api.graphqlAs(key, REQUEST, { scenarioId, count: 2, batchSize: 1, steps: 2, seed: 1 });
    expect(result.data?.requestGeneration.__typename, JSON.stringify(result)).toBe("MutationRequestGenerationSuccess");
    return result.data!.requestGeneration.data.id as string;
  };

  it("another operator cannot cancel a job; its owner and an admin can", async () => {
    const alice = await api.createKey("OPERATOR", ["AUTOMOTIVE"], "alice");
    const bob = await api.createKey("OPERATOR", ["AUTOMOTIVE"], "bob");
    const first = await requestAs(alice);
    const refused = await api.graphqlAs(bob, CANCEL, { id: first });
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(refused.errors?.[0]?.message).toMatch(/another key/);
    const owner = await api.graphqlAs(alice, CANCEL, { id: first });
    expect(owner.data?.cancelJob.__typename).toBe("MutationCancelJobSuccess");

    const second = await requestAs(alice);
    expect((await api.graphql(CANCEL, { id: second })).data?.cancelJob.__typename).toBe("MutationCancelJobSuccess");
    const audit = await db.prisma.auditEntry.findMany({ where: { operation: "cancelJob" }, orderBy: { id: "asc" } });
    expect(audit.map((e) => e.outcome)).toEqual(["FORBIDDEN", "OK", "OK"]);
  });

  it("stores only a key's hash; rotation revokes the old secret; revoked and expired keys are refused", async () => {
    const created = await api.graphql(`mutation { createApiKey(input: { name: "ci", role: VIEWER, scopes: [AUTOMOTIVE] }) { ... on MutationCreateApiKeySuccess { data { secret key { id prefix role scopes } } } } }`);
    const { secret, key } = created.data!.createApiKey.data;
    expect(secret.startsWith(`${key.prefix}_`)).toBe(true);
    const row = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(JSON.stringify(row)).not.toContain(secret.slice(key.prefix.length + 1));
    expect((await api.graphqlAs(secret, `{ me { role scopes } }`)).data?.me).toEqual({ role: "VIEWER", scopes: ["AUTOMOTIVE"] });

    const listed = await api.graphql(`{ apiKeys { prefix name revokedAt } }`);
    expect(JSON.stringify(listed)).not.toContain(secret);

    const rotated = await api.graphql(`mutation($id: String!) { rotateApiKey(id: $id) { ... on MutationRotateApiKeySuccess { data { secret key { rotatedFromId } } } } }`, { id: key.prefix });
    const fresh = rotated.data!.rotateApiKey.data;
    expect(fresh.key.rotatedFromId).toBe(key.id);
    expect((await api.graphqlAs(secret, `{ me { role } }`)).status).toBe(401);
    expect((await api.graphqlAs(fresh.secret, `{ me { role } }`)).data?.me.role).toBe("VIEWER");

    const expiring = await api.service.services.keys.create({ name: "short", role: "VIEWER", scopes: ["AUTOMOTIVE"], expiresAt: new Date(Date.now() + 1500) });
    expect((await api.graphqlAs(expiring.secret, `{ me { role } }`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await api.graphqlAs(expiring.secret, `{ me { role } }`)).status).toBe(401);

    const badExpiry = await api.graphql(`mutation { createApiKey(input: { name: "old", role: VIEWER, scopes: [AUTOMOTIVE], expiresAt: "2001-01-01T00:00:00Z" }) { __typename ... on ValidationError { issues { path message } } } }`);
    expect(badExpiry.data?.createApiKey.issues).toEqual([{ path: "expiresAt", message: "the expiry must be in the future" }]);
  });
});
