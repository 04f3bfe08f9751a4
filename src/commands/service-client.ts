// The CLI's side of a running service, for the commands that ask it over HTTP (report, search): where it is
// (--url), which API key they send (--key, else RAREFORGE_API_KEY, else the data directory's secrets/admin-key)
// and GraphQL over HTTP and SSE with that key. A refused key is a CommandInputError naming the three ways.
import path from "node:path";
import type { Command } from "commander";
import { ADMIN_KEY_FILE, readAdminKeyFile, secretsDir } from "../access/index.ts";
import type { Config } from "../config.ts";

export const DEFAULT_SERVICE_URL = process.env.RAREFORGE_URL ?? "http://127.0.0.1:4000";

export class CommandInputError extends Error {
  override name = "CommandInputError";
}

/** The API key a command sends, and where it was found (named when the service refuses it). */
export interface ServiceKey {
  /** null: none of the three places has one (a service with RAREFORGE_AUTH=off needs none). */
  secret: string | null;
  /** `--key`, `RAREFORGE_API_KEY`, or the admin-key file's path (looked at last). */
  source: string;
}

/** The key given with --key, else RAREFORGE_API_KEY, else the one the service wrote at its first start. */
export async function resolveServiceKey(given: string | undefined, config: Pick<Config, "apiKey" | "dataDir">): Promise<ServiceKey> {
  if (given?.trim()) return { secret: given.trim(), source: "--key" };
  if (config.apiKey) return { secret: config.apiKey, source: "RAREFORGE_API_KEY" };
  return { secret: await readAdminKeyFile(config.dataDir), source: path.join(secretsDir(config.dataDir), ADMIN_KEY_FILE) };
}

/** `--url` and `--key`: the options of every command that asks a running service. */
export function withServiceOptions(command: Command): Command {
  return command
    .option("--url <url>", "the service (default $RAREFORGE_URL or http://127.0.0.1:4000)", DEFAULT_SERVICE_URL)
    .option("--key <key>", "API key to send (default $RAREFORGE_API_KEY, else <data dir>/secrets/admin-key)");
}

const WAYS_TO_GIVE_A_KEY = "give one with --key <key>, set RAREFORGE_API_KEY, or run where the service's data directory (RAREFORGE_DATA_DIR) holds secrets/admin-key";

function unauthenticated(endpoint: string, key: ServiceKey): CommandInputError {
  if (key.secret === null) return new CommandInputError(`the service at ${endpoint} needs an API key and none was found (no --key, no RAREFORGE_API_KEY, no ${key.source}); ${WAYS_TO_GIVE_A_KEY}`);
  // only the visible prefix of the key is ever printed
  const prefix = /^rf_[0-9a-f]{12}/.exec(key.secret)?.[0];
  return new CommandInputError(
    `the service at ${endpoint} refused the API key from ${key.source} (${prefix ? `${prefix}…: unknown, revoked or expired` : "not a RareForge key"}); ${WAYS_TO_GIVE_A_KEY}`,
  );
}

function authorization(key: ServiceKey): Record<string, string> {
  return key.secret === null ? {} : { authorization: `Bearer ${key.secret}` };
}

/** A minimal GraphQL-over-HTTP client for the CLI, sending the key; errors come back as thrown messages. */
export function graphqlClient(url: string, key: ServiceKey) {
  const endpoint = `${url.replace(/\/+$/, "")}/graphql`;
  return {
    endpoint,
    key,
    async request<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const body = JSON.stringify({ query, variables });
      let response: Response;
      try {
        response = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...authorization(key) }, body });
      } catch (error) {
        throw new CommandInputError(`cannot reach the service at ${endpoint} (${(error as Error).message}); start it with \`rareforge serve\` or give --url`);
      }
      if (response.status === 401) throw unauthenticated(endpoint, key);
      const json = (await response.json()) as { data?: T; errors?: Array<{ message: string }> };
      if (json.errors?.length) throw new CommandInputError(json.errors.map((e) => e.message).join("; "));
      return json.data as T;
    },
  };
}

export type GraphQLClient = ReturnType<typeof graphqlClient>;

/** Reads a GraphQL subscription over SSE (graphql-yoga) and yields each event's payload until the server completes it. */
export async function* subscriptionEvents(endpoint: string, key: ServiceKey, query: string, variables: Record<string, unknown>): AsyncGenerator<{ data?: any; errors?: Array<{ message: string }> }> {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", "content-length": String(Buffer.byteLength(body)), ...authorization(key) },
    body,
  });
  if (response.status === 401) throw unauthenticated(endpoint, key);
  if (!response.ok || !response.body) throw new CommandInputError(`subscription refused: ${response.status} ${await response.text()}`);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let split: number;
    while ((split = buffer.indexOf("\n\n")) >= 0) {
      const message = buffer.slice(0, split);
      buffer = buffer.slice(split + 2);
      if (/^event: complete$/m.test(message)) return;
      const data = message
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trim())
        .join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}
