// The CLI's side of a running service, for the commands that ask it over HTTP (report, search): where it is
// and GraphQL over HTTP and SSE.

export const DEFAULT_SERVICE_URL = process.env.RAREFORGE_URL ?? "http://127.0.0.1:4000";

export class CommandInputError extends Error {
  override name = "CommandInputError";
}

/** A minimal GraphQL-over-HTTP client for the CLI; errors come back as thrown messages. */
export function graphqlClient(url: string) {
  const endpoint = `${url.replace(/\/+$/, "")}/graphql`;
  return {
    endpoint,
    async request<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const body = JSON.stringify({ query, variables });
      let response: Response;
      try {
        response = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }, body });
      } catch (error) {
        throw new CommandInputError(`cannot reach the service at ${endpoint} (${(error as Error).message}); start it with \`rareforge serve\` or give --url`);
      }
      const json = (await response.json()) as { data?: T; errors?: Array<{ message: string }> };
      if (json.errors?.length) throw new CommandInputError(json.errors.map((e) => e.message).join("; "));
      return json.data as T;
    },
  };
}

export type GraphQLClient = ReturnType<typeof graphqlClient>;

/** Reads a GraphQL subscription over SSE (graphql-yoga) and yields each event's payload until the server completes it. */
export async function* subscriptionEvents(endpoint: string, query: string, variables: Record<string, unknown>): AsyncGenerator<{ data?: any; errors?: Array<{ message: string }> }> {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream", "content-length": String(Buffer.byteLength(body)) }, body });
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
