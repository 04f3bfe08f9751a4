// RAREFORGE_AUTH=off: accepted only with a loopback bind address, refused at start otherwise; with it, requests from
// this machine act as the machine itself and no key is created or needed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, isLoopbackHost, loadConfig } from "../../src/config.ts";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

describe("RAREFORGE_AUTH", () => {
  it("is on unless set to off, and off only with a loopback HOST", () => {
    expect(loadConfig({}).auth).toBe(true);
    expect(loadConfig({ RAREFORGE_AUTH: "off", HOST: "127.0.0.1" }).auth).toBe(false);
    expect(loadConfig({ RAREFORGE_AUTH: "off", HOST: "::1" }).auth).toBe(false);
    expect(loadConfig({ RAREFORGE_AUTH: "off", HOST: "localhost" }).auth).toBe(false);
    for (const host of ["0.0.0.0", "::", "192.168.1.20", "rareforge.example"]) {
      expect(() => loadConfig({ RAREFORGE_AUTH: "off", HOST: host }), host).toThrow(ConfigError);
      expect(() => loadConfig({ RAREFORGE_AUTH: "off", HOST: host }), host).toThrow(/only when the server binds a loopback address/);
    }
    expect(() => loadConfig({ RAREFORGE_AUTH: "maybe" })).toThrow(/RAREFORGE_AUTH must be on or off/);
    expect(isLoopbackHost("127.3.4.5")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });

  describe("off, on loopback", () => {
    let db: Database;
    let api: TestService;
    beforeAll(async () => {
      db = await openDatabase({ kind: "pglite" });
      api = await startTestService(db, { auth: false, importLibraryOnStart: false, runWorker: false });
    });
    afterAll(async () => {
      await api?.close();
      await db?.close();
    });

    it("answers without a key, as the machine, and made no key", async () => {
      const me = await api.graphqlAs(null, `{ me { keyId label role scopes } }`);
      expect(me.data?.me).toEqual({ keyId: null, label: "auth-off", role: "ADMIN", scopes: ["AUTOMOTIVE", "MEDICAL"] });
      expect(await db.prisma.apiKey.count()).toBe(1); // the test helper's own admin key, made through the service
    });
  });
});
