// DICOMweb endpoints (PACS) from configuration. Credentials come from environment variables that the
// endpoint names (`passwordEnv`, `tokenEnv`), are resolved once at config load, and never leave this
// module in a printable form: a Credentials object serialises as "[redacted]", so a logged config or a
// stored row cannot carry them. A folder of its own: config.ts reads endpoints at load without pulling in
// the PACS service and its imports.
import { z } from "zod";

/** An endpoint's name: what commands and the API refer to; never its URL. */
export const PACS_ENDPOINT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const authSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("none") }),
  z.object({ kind: z.literal("basic"), username: z.string().min(1), passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "the name of an environment variable") }),
  z.object({ kind: z.literal("bearer"), tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "the name of an environment variable") }),
]);

export const pacsEndpointSchema = z.object({
  name: z.string().regex(PACS_ENDPOINT_NAME, "lowercase letters, digits, '-' and '_' (at most 63)"),
  /** The DICOMweb root, e.g. https://pacs.example.org/dicom-web (QIDO, WADO and STOW paths are appended). */
  url: z
    .string()
    .url()
    .refine((url) => /^https?:$/.test(new URL(url).protocol), "an http or https URL")
    .refine((url) => new URL(url).username === "" && new URL(url).password === "", "no credentials in the URL: use auth with passwordEnv or tokenEnv"),
  auth: authSchema.default({ kind: "none" }),
  /** Per request (a retrieve or a store of one batch). */
  timeoutSeconds: z.number().positive().max(3600).default(60),
  /** Attempts per request on a transient failure (network, timeout, 408, 429, 5xx). */
  attempts: z.number().int().min(1).max(10).default(3),
});
export type PacsEndpointConfig = z.infer<typeof pacsEndpointSchema>;

/** An Authorization header value, kept out of JSON and inspection. */
export class Credentials {
  readonly #header: string | null;
  constructor(header: string | null) {
    this.#header = header;
  }
  header(): string | null {
    return this.#header;
  }
  toJSON(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[redacted]";
  }
}

export interface PacsEndpoint {
  readonly name: string;
  /** The DICOMweb root without a trailing slash. */
  readonly url: string;
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly credentials: Credentials;
}

export class PacsConfigError extends Error {
  override name = "PacsConfigError";
}

/**
 * RAREFORGE_PACS_ENDPOINTS: a JSON array of endpoints. Each secret is read from the environment variable the
 * endpoint names; a missing variable is a configuration error naming it (never its value).
 */
export function parsePacsEndpoints(json: string | undefined, env: Readonly<Record<string, string | undefined>>): PacsEndpoint[] {
  if (json === undefined || json.trim() === "") return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new PacsConfigError(`RAREFORGE_PACS_ENDPOINTS is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = z.array(pacsEndpointSchema).safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
    throw new PacsConfigError(`RAREFORGE_PACS_ENDPOINTS: ${issues}`);
  }
  const names = new Set<string>();
  return parsed.data.map((endpoint) => {
    if (names.has(endpoint.name)) throw new PacsConfigError(`RAREFORGE_PACS_ENDPOINTS: endpoint "${endpoint.name}" is listed twice`);
    names.add(endpoint.name);
    return {
      name: endpoint.name,
      url: endpoint.url.replace(/\/+$/, ""),
      timeoutMs: Math.round(endpoint.timeoutSeconds * 1000),
      attempts: endpoint.attempts,
      credentials: new Credentials(authorizationHeader(endpoint, env)),
    };
  });
}

function authorizationHeader(endpoint: PacsEndpointConfig, env: Readonly<Record<string, string | undefined>>): string | null {
  const secret = (variable: string) => {
    const value = env[variable];
    if (!value) throw new PacsConfigError(`PACS endpoint "${endpoint.name}": environment variable ${variable} is not set`);
    return value;
  };
  switch (endpoint.auth.kind) {
    case "none":
      return null;
    case "basic":
      return `Basic ${Buffer.from(`${endpoint.auth.username}:${secret(endpoint.auth.passwordEnv)}`).toString("base64")}`;
    case "bearer":
      return `Bearer ${secret(endpoint.auth.tokenEnv)}`;
  }
}
