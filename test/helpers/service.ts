// Starts the real HTTP service on a free port over a given database, and speaks GraphQL to it over HTTP with the
// admin key the service created at its first start (or other keys the test makes).
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Domain, Role } from "../../src/access/index.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { startService, type RunningService } from "../../src/app.ts";
import type { Database } from "../../src/db/index.ts";
import { createLogger } from "../../src/logger.ts";

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export interface TestService {
  service: RunningService;
  config: Config;
  /** The admin key (every domain) the service printed at its first start. */
  adminKey: string;
  /** Headers that authenticate as the admin key. */
  auth: { authorization: string };
  /** GraphQL as the admin key. */
  graphql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** GraphQL as another key (or none: null). */
  graphqlAs<T = Record<string, any>>(key: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** A new key with this role and these scopes. */
  createKey(role: Role, scopes: Domain[], name?: string): Promise<string>;
  /** fetch of a path on the service as the admin key (headers given in init are kept). */
  fetch(pathAndQuery: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestService(db: Database, overrides: Partial<Config> = {}): Promise<TestService> {
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "rareforge-test-"));
  const config = loadConfig(process.env, { port: 0, host: "127.0.0.1", logLevel: "silent", ...overrides, dataDir });
  let announced: string | undefined;
  const service = await startService(config, { db, logger: createLogger("silent"), announce: (key) => (announced = key) });
  const createKey = async (role: Role, scopes: Domain[], name = `test ${role.toLowerCase()}`) => (await service.services.keys.create({ name, role, scopes })).secret;
  const adminKey = announced ?? (await createKey("ADMIN", ["AUTOMOTIVE", "MEDICAL"], "test admin"));
  const graphqlAs = async (key: string | null, query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(`${service.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as GraphQLResponse;
    return { ...body, status: response.status } as never;
  };
  return {
    service,
    config,
    adminKey,
    auth: { authorization: `Bearer ${adminKey}` },
    graphql: (query, variables) => graphqlAs(adminKey, query, variables),
    graphqlAs,
    createKey,
    fetch: (pathAndQuery, init = {}) => fetch(`${service.url}${pathAndQuery}`, { ...init, headers: { authorization: `Bearer ${adminKey}`, ...(init.headers as Record<string, string> | undefined) } }),
    close: () => service.close(),
  };
}
