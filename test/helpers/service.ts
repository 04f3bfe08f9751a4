// Starts the real HTTP service on a free port over a given database, and speaks GraphQL to it over HTTP.
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
  graphql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export async function startTestService(db: Database, overrides: Partial<Config> = {}): Promise<TestService> {
  const config = loadConfig(process.env, { port: 0, host: "127.0.0.1", logLevel: "silent", ...overrides });
  const service = await startService(config, { db, logger: createLogger("silent") });
  return {
    service,
    config,
    async graphql(query, variables) {
      const response = await fetch(`${service.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as GraphQLResponse;
      return { ...body, status: response.status } as never;
    },
    close: () => service.close(),
  };
}
