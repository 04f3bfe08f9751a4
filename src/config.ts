// Environment → typed, validated configuration. The one place that reads process.env.
import path from "node:path";
import { z } from "zod";
import { PROJECT_ROOT } from "./paths.ts";
import { parsePacsEndpoints, PacsConfigError, type PacsEndpoint } from "./pacs/endpoints/index.ts";

/** Default largest picture, in pixels (width × height), that is decoded (RAREFORGE_MAX_IMAGE_PIXELS). */
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;
/** Default largest detector ONNX file that is read, in bytes (RAREFORGE_MAX_DETECTOR_BYTES). */
export const DEFAULT_MAX_DETECTOR_BYTES = 512 * 1024 * 1024;

const configSchema = z.object({
  /** Where the embedded database, artifacts and the lock live. */
  dataDir: z.string().min(1),
  /** postgresql://… switches from embedded PGlite to a PostgreSQL server. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must start with postgresql://")
    .optional(),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  modelsDir: z.string().min(1),
  scenariosDir: z.string().min(1),
  /** Validation suites (suites/*.yaml): `rareforge suite run <name>` looks names up here. */
  suitesDir: z.string().min(1),
  /** Import scenarios/*.yaml at start (idempotent). */
  importLibraryOnStart: z.boolean(),
  /**
   * Origins (scheme://host[:port]) whose pages may call /graphql from a browser (CORS). Empty: none, and
   * responses carry no Access-Control-Allow-Origin at all.
   */
  corsOrigins: z.array(
    z
      .string()
      .regex(/^https?:\/\/[^/\s]+$/, "origins look like https://host or http://host:port, without a path")
      .refine((origin) => URL.canParse(origin), "not a valid origin")
      // As browsers send it: lowercase host, no default port.
      .transform((origin) => new URL(origin).origin),
  ),
  /**
   * Host header values served besides the loopback names with the listening port (DNS rebinding defence):
   * `name` allows any port, `name:port` that port only.
   */
  allowedHosts: z.array(z.string().regex(/^[^/\s@]+$/, "hosts look like name or name:port")),
  /** Largest accepted request body, in bytes. */
  maxBodyBytes: z.coerce.number().int().positive(),
  /** Largest accepted reference scan upload (GraphQL multipart and the CLI), in bytes. */
  maxUploadBytes: z.coerce.number().int().positive(),
  /** Largest picture (width × height) decoded from an upload, a region mask or a reference; read from the header first. */
  maxImagePixels: z.coerce.number().int().positive(),
  /** The only directory registerDetector reads Ultralytics exports from (paths resolved, symlinks too). */
  detectorsDir: z.string().min(1),
  /** Largest detector ONNX file read, in bytes (checked before reading). */
  maxDetectorBytes: z.coerce.number().int().positive(),
  /** Deepest accepted GraphQL selection. */
  maxQueryDepth: z.coerce.number().int().positive(),
  /** Largest accepted GraphQL query cost (graphql-armor's cost model). */
  maxQueryCost: z.coerce.number().int().positive(),
  executionProvider: z.enum(["cpu", "cuda", "webgpu", "auto"]),
  /** Run a generation worker inside the API process (`serve --no-worker` turns it off). */
  runWorker: z.boolean(),
  /** Batch tasks one worker process runs at once. */
  workerConcurrency: z.coerce.number().int().min(1).max(64),
  /** onnxruntime intra-op threads per session; 0 lets onnxruntime choose (one per core). */
  onnxThreads: z.coerce.number().int().min(0).max(256),
  /** Largest `count` a generation request may ask for. */
  maxSamplesPerJob: z.coerce.number().int().positive(),
  /** Largest batch size a generation request may ask for. */
  maxBatchSize: z.coerce.number().int().positive(),
  /** How long a batch task may run before the queue gives it to another worker (a killed worker's task comes back after this). */
  taskExpireSeconds: z.coerce.number().int().min(1),
  /** Queue polling interval in seconds (a floor under LISTEN/NOTIFY, which wakes workers at once). */
  queuePollSeconds: z.coerce.number().min(0.5),
  /** Realism gate of the detector in the loop: the domain's critic must see what was requested, or the sample is INVALID. */
  realismGate: z.boolean(),
  /** Minimum IoU of the critic's box with the requested one. */
  realismMinBoxIoU: z.coerce.number().min(0).max(1).optional(),
  /** Allowed scalar error outside the box, as a fraction of the field's range. */
  realismScalarTolerance: z.coerce.number().min(0).max(1).optional(),
  /** Minimum critic probability for a categorical value to count as seen. */
  realismMinProbability: z.coerce.number().min(0).max(1).optional(),
  /** Condition fields the gate does not check (comma-separated; "box" skips the box). */
  realismIgnore: z.array(z.string().min(1)),
  /** API keys required on every surface; off only when the server binds a loopback address. */
  auth: z.boolean(),
  /** Secret that signs artifact URLs (set the same one on every API process); unset: secrets/url-signing-key. */
  urlSigningKey: z.string().min(32, "RAREFORGE_URL_SIGNING_KEY needs at least 32 characters").optional(),
  /** How long a signed artifact URL stays valid, in seconds. */
  signedUrlSeconds: z.coerce.number().int().min(10).max(7 * 24 * 3600),
  /** The key CLI commands that call a running service send (`--key` wins; unset: <data dir>/secrets/admin-key). */
  apiKey: z.string().min(1).optional(),
  /** DICOMweb endpoints (RAREFORGE_PACS_ENDPOINTS), credentials resolved from the variables they name. */
  pacsEndpoints: z.array(z.custom<PacsEndpoint>()),
  /** Most instances one PACS import fetches. */
  pacsMaxInstances: z.coerce.number().int().positive(),
}).refine((config) => config.auth || isLoopbackHost(config.host), {
  path: ["auth"],
  message: "RAREFORGE_AUTH=off is allowed only when the server binds a loopback address (HOST=127.0.0.1, ::1 or localhost); anyone who can reach another address could use every key's rights",
});

/** Whether a bind address can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name);
}

export type Config = z.infer<typeof configSchema>;

/** Configuration variables, their defaults and meaning (README lists the same). */
export const CONFIG_VARIABLES = {
  RAREFORGE_DATA_DIR: ".rareforge — embedded database, artifacts, lock file",
  DATABASE_URL: "unset — postgresql://user@host:5432/db to use a PostgreSQL server instead of PGlite",
  HOST: "127.0.0.1 — interface the HTTP server binds",
  PORT: "4000 — HTTP port (GraphiQL at /graphql)",
  LOG_LEVEL: "info — pino level (fatal … trace, silent)",
  RAREFORGE_MODELS_DIR: "models — model, detector and critic packages",
  RAREFORGE_SCENARIOS_DIR: "scenarios — YAML scenario library imported at start",
  RAREFORGE_IMPORT_LIBRARY: "true — import the scenario library at start",
  RAREFORGE_CORS_ORIGINS: "empty — comma-separated origins whose browser pages may call /graphql (CORS off when empty)",
  RAREFORGE_ALLOWED_HOSTS: "empty — comma-separated Host names (name or name:port) served besides localhost/127.0.0.1/[::1] on the port",
  RAREFORGE_MAX_BODY_BYTES: "1048576 — request body limit",
  RAREFORGE_MAX_UPLOAD_BYTES: "33554432 — largest reference scan upload (multipart requests may be this much larger than the body limit)",
  RAREFORGE_MAX_IMAGE_PIXELS: "40000000 — largest picture (width × height) of a reference scan (PNG, JPEG, DICOM), region mask or reference, read from its header before decoding",
  RAREFORGE_DETECTORS_DIR: "<data dir>/detectors — the only directory registerDetector reads Ultralytics exports from",
  RAREFORGE_MAX_DETECTOR_BYTES: "536870912 — largest detector ONNX file that is read",
  RAREFORGE_MAX_QUERY_DEPTH: "12 — GraphQL depth limit",
  RAREFORGE_MAX_QUERY_COST: "5000 — GraphQL cost limit",
  RAREFORGE_EP: "cpu — onnxruntime execution provider: cpu | cuda | webgpu | auto",
  RAREFORGE_WORKER: "true — run a generation worker inside `serve` (false = API only, like --no-worker)",
  RAREFORGE_WORKER_CONCURRENCY: "1 — batch tasks one worker process runs at once",
  RAREFORGE_ONNX_THREADS: "0 — onnxruntime intra-op threads per session (0 = one per core)",
  RAREFORGE_MAX_SAMPLES_PER_JOB: "10000 — largest count of one generation request",
  RAREFORGE_MAX_BATCH_SIZE: "64 — largest batch size of one generation request",
  RAREFORGE_TASK_EXPIRE_SECONDS: "900 — a batch task running longer is handed to another worker (crash recovery delay)",
  RAREFORGE_QUEUE_POLL_SECONDS: "0.5 — queue polling interval (LISTEN/NOTIFY wakes workers sooner)",
  RAREFORGE_REALISM_GATE: "true — judge scored samples with the domain's critic; refused ones are INVALID, not misses",
  RAREFORGE_REALISM_MIN_BOX_IOU: "the critic's calibrated floor per class (0.3 without one) — realism gate: IoU of the critic's box with the requested box; set, one floor for every class",
  RAREFORGE_REALISM_SCALAR_TOLERANCE: "the critic's calibrated tolerance per field (0.25 without one) — realism gate: scalar error allowed, as a fraction of the range; set, one tolerance for every field",
  RAREFORGE_REALISM_MIN_PROBABILITY: "the critic's calibrated floors (argmax rule without them) — realism gate: set, a categorical field passes only when the critic's most likely value is the requested one with at least this probability",
  RAREFORGE_REALISM_IGNORE: "empty — realism gate: comma-separated fields not checked (box = the box)",
  RAREFORGE_AUTH: "on — API keys required on every surface; off is accepted only with a loopback HOST",
  RAREFORGE_API_KEY: "unset — the key CLI commands that call the service send (default: <data dir>/secrets/admin-key)",
  RAREFORGE_URL_SIGNING_KEY: "unset — secret signing artifact URLs (give every API process the same one); default <data dir>/secrets/url-signing-key",
  RAREFORGE_SIGNED_URL_SECONDS: "900 — lifetime of a signed artifact URL",
  RAREFORGE_PACS_ENDPOINTS: 'empty — JSON array of DICOMweb endpoints: [{"name":"pacs","url":"https://host/dicom-web","auth":{"kind":"basic","username":"u","passwordEnv":"PACS_PASSWORD"},"timeoutSeconds":60,"attempts":3}] (auth kinds none | basic (passwordEnv) | bearer (tokenEnv): secrets are read from the variables named, never written)',
  RAREFORGE_PACS_MAX_INSTANCES: "2000 — most instances one PACS import fetches",
} as const;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Largest request body: a multipart request (an upload) may carry one file of up to maxUploadBytes beyond the usual body. */
export function requestBodyLimit(config: Pick<Config, "maxBodyBytes" | "maxUploadBytes">, multipart: boolean): number {
  return multipart ? config.maxBodyBytes + config.maxUploadBytes : config.maxBodyBytes;
}

const commaList = (value: string | undefined): string[] => (value ?? "").split(",").map((item) => item.trim()).filter(Boolean);

function parseAuth(value: string | undefined): boolean {
  const normalised = (value ?? "on").trim().toLowerCase();
  if (["on", "true", "1"].includes(normalised)) return true;
  if (["off", "false", "0"].includes(normalised)) return false;
  throw new ConfigError(`invalid configuration: RAREFORGE_AUTH must be on or off, not "${value}"`);
}

function pacsEndpointsFrom(env: NodeJS.ProcessEnv): PacsEndpoint[] {
  try {
    return parsePacsEndpoints(env.RAREFORGE_PACS_ENDPOINTS, env);
  } catch (error) {
    if (error instanceof PacsConfigError) throw new ConfigError(`invalid configuration: ${error.message}`);
    throw error;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const resolveDir = (value: string | undefined, fallback: string) => path.resolve(PROJECT_ROOT, value ?? fallback);
  const dataDir = overrides.dataDir ?? resolveDir(env.RAREFORGE_DATA_DIR, ".rareforge");
  const candidate = {
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    host: env.HOST ?? "127.0.0.1",
    port: env.PORT ?? 4000,
    logLevel: env.LOG_LEVEL ?? "info",
    modelsDir: resolveDir(env.RAREFORGE_MODELS_DIR, "models"),
    scenariosDir: resolveDir(env.RAREFORGE_SCENARIOS_DIR, "scenarios"),
    suitesDir: resolveDir(env.RAREFORGE_SUITES_DIR, "suites"),
    importLibraryOnStart: (env.RAREFORGE_IMPORT_LIBRARY ?? "true") !== "false",
    corsOrigins: commaList(env.RAREFORGE_CORS_ORIGINS),
    allowedHosts: commaList(env.RAREFORGE_ALLOWED_HOSTS).map((host) => host.toLowerCase()),
    maxBodyBytes: env.RAREFORGE_MAX_BODY_BYTES ?? 1024 * 1024,
    maxUploadBytes: env.RAREFORGE_MAX_UPLOAD_BYTES ?? 32 * 1024 * 1024,
    maxImagePixels: env.RAREFORGE_MAX_IMAGE_PIXELS ?? DEFAULT_MAX_IMAGE_PIXELS,
    detectorsDir: env.RAREFORGE_DETECTORS_DIR ? resolveDir(env.RAREFORGE_DETECTORS_DIR, "") : path.join(dataDir, "detectors"),
    maxDetectorBytes: env.RAREFORGE_MAX_DETECTOR_BYTES ?? DEFAULT_MAX_DETECTOR_BYTES,
    maxQueryDepth: env.RAREFORGE_MAX_QUERY_DEPTH ?? 12,
    maxQueryCost: env.RAREFORGE_MAX_QUERY_COST ?? 5000,
    executionProvider: env.RAREFORGE_EP ?? "cpu",
    runWorker: (env.RAREFORGE_WORKER ?? "true") !== "false",
    workerConcurrency: env.RAREFORGE_WORKER_CONCURRENCY ?? 1,
    onnxThreads: env.RAREFORGE_ONNX_THREADS ?? 0,
    maxSamplesPerJob: env.RAREFORGE_MAX_SAMPLES_PER_JOB ?? 10_000,
    maxBatchSize: env.RAREFORGE_MAX_BATCH_SIZE ?? 64,
    taskExpireSeconds: env.RAREFORGE_TASK_EXPIRE_SECONDS ?? 900,
    queuePollSeconds: env.RAREFORGE_QUEUE_POLL_SECONDS ?? 0.5,
    realismGate: (env.RAREFORGE_REALISM_GATE ?? "true") !== "false",
    realismMinBoxIoU: env.RAREFORGE_REALISM_MIN_BOX_IOU,
    realismScalarTolerance: env.RAREFORGE_REALISM_SCALAR_TOLERANCE,
    realismMinProbability: env.RAREFORGE_REALISM_MIN_PROBABILITY,
    realismIgnore: commaList(env.RAREFORGE_REALISM_IGNORE),
    auth: parseAuth(env.RAREFORGE_AUTH),
    urlSigningKey: env.RAREFORGE_URL_SIGNING_KEY || undefined,
    signedUrlSeconds: env.RAREFORGE_SIGNED_URL_SECONDS ?? 900,
    apiKey: env.RAREFORGE_API_KEY?.trim() || undefined,
    pacsEndpoints: pacsEndpointsFrom(env),
    pacsMaxInstances: env.RAREFORGE_PACS_MAX_INSTANCES ?? 2000,
    ...overrides,
  };
  const parsed = configSchema.safeParse(candidate);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}
