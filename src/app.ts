// The running service: database, migrations, scenario library, GraphQL and health endpoints over HTTP,
// and a clean shutdown that flushes the embedded database and releases its lock.
import { mkdir } from "node:fs/promises";
import http from "node:http";
import type { PgBoss } from "pg-boss";
import type { AddressInfo } from "node:net";
import { artifactDomains, createFirstAdminKey, localCaller, runAsCaller, urlSigningKey, type Caller, type Domain } from "./access/index.ts";
import { requestBodyLimit, type Config } from "./config.ts";
import { databaseOptionsFromConfig, openDatabase, runAsRequest, type Database } from "./db/index.ts";
import { createLogger, type Logger } from "./logger.ts";
import { buildServices, type Services } from "./services.ts";
import { createGraphQLServer } from "./graphql/index.ts";
import { serveExportZip } from "./export/index.ts";
import { serveGallery } from "./gallery/index.ts";
import { openQueue, startWorker, type RunningWorker } from "./jobs/index.ts";
import { loadScenarioLibrary } from "./scenarios/index.ts";
import { loadSuiteLibrary } from "./suites/index.ts";
import { artifactStoreFromConfig, isSha256 } from "./storage/index.ts";
import { RAREFORGE_VERSION } from "./version.ts";

export interface RunningService {
  readonly url: string;
  readonly services: Services;
  /** The in-process generation worker, unless started with runWorker false. */
  readonly worker: RunningWorker | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Shows the admin key made at first start (default: printed to stdout, once). */
  announce?: (key: string, file: string) => void;
  /** An already-open database (tests); otherwise one is opened from the config. */
  db?: Database;
}

/** Imports suites/*.yaml (after the scenarios they name): new suites, new versions of changed ones. */
export async function importSuiteLibrary(services: Services): Promise<void> {
  const entries = await loadSuiteLibrary(services.config.suitesDir);
  const outcome = await services.suites.importSpecs(
    entries.map((entry) => ({ label: entry.file, spec: entry.spec })),
    "LIBRARY",
  );
  services.logger.info({ created: outcome.created.length, updated: outcome.updated.length, unchanged: outcome.unchanged.length }, "suite library imported");
}

export async function importLibrary(services: Services): Promise<void> {
  const entries = await loadScenarioLibrary(services.config.scenariosDir);
  const outcome = await services.scenarios.importSpecs(
    entries.map((entry) => ({ label: entry.file, spec: entry.spec })),
    "LIBRARY",
  );
  services.logger.info(
    { created: outcome.created.length, updated: outcome.updated.length, unchanged: outcome.unchanged.length },
    "scenario library imported",
  );
}

export async function startService(config: Config, options: StartOptions = {}): Promise<RunningService> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const db = options.db ?? (await openDatabase(databaseOptionsFromConfig(config)));
  let server: http.Server | undefined;
  let boss: PgBoss | undefined;
  let worker: RunningWorker | undefined;
  try {
    const migration = await db.migrate();
    logger.info({ database: db.kind, applied: migration.applied, alreadyApplied: migration.alreadyApplied.length }, "database ready");
    boss = await openQueue(db, config, logger);
    const store = artifactStoreFromConfig(config);
    // where users put detector exports to register (registerDetector reads nothing outside it)
    await mkdir(config.detectorsDir, { recursive: true });
    const services = buildServices(config, db, logger, boss, store, await urlSigningKey(config.dataDir, config.urlSigningKey));
    if (config.auth) {
      const first = await createFirstAdminKey(config.dataDir, services.keys);
      if (first) (options.announce ?? announceFirstAdminKey)(first.issued.secret, first.file);
    } else logger.warn({ host: config.host }, "RAREFORGE_AUTH=off: every request from this machine acts as an admin with every scope");
    if (config.runWorker) worker = await startWorker({ config, db, boss, store, logger, events: services.jobs.events });
    if (config.importLibraryOnStart) {
      try {
        await importLibrary(services);
      } catch (error) {
        // A bad library file must not take the API down; it is reported and the rest keeps working.
        logger.error({ err: error }, "scenario library import failed");
      }
      try {
        await importSuiteLibrary(services);
      } catch (error) {
        logger.error({ err: error }, "suite library import failed");
      }
    }
    const yoga = createGraphQLServer(services);
    let hostAllowed: (host: string | undefined) => boolean = () => false;
    server = http.createServer((req, res) => {
      // the request's statements queue for the embedded database by its arrival (oldest request first)
      void runAsRequest(() => route(req, res)).catch((error) => {
        logger.error({ err: error }, "request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
      });
    });
    const route = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/health") return sendJson(res, 200, { status: "ok", version: RAREFORGE_VERSION });
      if (url.pathname === "/ready") {
        try {
          await db.ping();
          return sendJson(res, 200, { status: "ready", database: db.kind });
        } catch (error) {
          return sendJson(res, 503, { status: "unavailable", reason: (error as Error).message });
        }
      }
      // Health probes come from orchestrators under whatever name they use; everything else answers only
      // to the names it is served under, so a page on another name that resolves here (DNS rebinding)
      // cannot reach it.
      if (!hostAllowed(req.headers.host)) return sendText(res, 421, `Host "${req.headers.host ?? ""}" is not served here; add it to RAREFORGE_ALLOWED_HOSTS`);
      const clientAddress = req.socket.remoteAddress ?? null;
      if (url.pathname === "/graphql") {
        const declared = Number(req.headers["content-length"] ?? "0");
        const multipart = /^multipart\/form-data/i.test(req.headers["content-type"] ?? "");
        const bodyLimit = requestBodyLimit(config, multipart);
        const limitName = multipart ? "RAREFORGE_MAX_BODY_BYTES + RAREFORGE_MAX_UPLOAD_BYTES" : "RAREFORGE_MAX_BODY_BYTES";
        if (declared > bodyLimit)
          return sendJson(res, 413, { errors: [{ message: `request body of ${declared} bytes exceeds the limit of ${bodyLimit} (${limitName})` }] });
        if (req.method === "POST" && req.headers["content-length"] === undefined)
          return sendJson(res, 411, { errors: [{ message: "POST requests need a Content-Length header" }] });
        const caller = await authenticate(req, clientAddress, services);
        if (caller) return runAsCaller(caller, () => yoga(req, res));
        // GraphiQL's page itself holds no data (its requests then carry a key); everything else needs one
        if (isGraphiQLPage(req, url)) return yoga(req, res);
        return sendUnauthenticated(res);
      }
      if (url.pathname.startsWith("/artifacts/")) return serveArtifact(req, res, url, clientAddress, services);
      if (url.pathname.startsWith("/exports/")) {
        const caller = await authenticate(req, clientAddress, services);
        if (!caller) return sendUnauthenticated(res);
        return runAsCaller(caller, () => serveExportZip(req, res, url.pathname.slice("/exports/".length), { db: services.db, store: services.store, audit: services.audit }));
      }
      if (url.pathname === "/" || url.pathname === "/gallery") {
        res.writeHead(302, { location: "/gallery/" });
        return void res.end();
      }
      if (url.pathname.startsWith("/gallery/")) {
        const relative = decodePath(url.pathname.slice("/gallery/".length));
        if (relative === null) return sendText(res, 400, "malformed percent-encoding in the path");
        return serveGallery(req, res, relative);
      }
      return sendJson(res, 404, { error: `no route for ${url.pathname}` });
    };
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(config.port, config.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    hostAllowed = hostAllowList(config, address.port);
    const url = `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`;
    logger.info({ url: `${url}/graphql`, version: RAREFORGE_VERSION }, "RareForge is serving GraphQL");
    let closing: Promise<void> | undefined;
    return {
      url,
      services,
      worker,
      close() {
        closing ??= (async () => {
          await new Promise<void>((resolve) => {
            server!.close(() => resolve());
            server!.closeAllConnections();
          });
          // Running failure searches stop (recorded as cancelled) before the worker and the queue go away.
          await services.searches.close();
          await services.suites.close();
          // The worker finishes (or gives up) its batch before the queue and database go away.
          await worker?.stop();
          await services.detectors.close();
          await boss?.stop({ graceful: true, close: true, timeout: 10_000 });
          if (!options.db) await db.close();
          logger.info("RareForge stopped");
        })();
        return closing;
      },
    };
  } catch (error) {
    server?.close();
    await worker?.stop().catch(() => {});
    await boss?.stop({ graceful: false, close: true }).catch(() => {});
    if (!options.db) await db.close();
    throw error;
  }
}

/** The caller of a request: its key's (Authorization: Bearer), or the machine's when authentication is off. */
async function authenticate(req: http.IncomingMessage, clientAddress: string | null, services: Services): Promise<Caller | null> {
  if (!services.config.auth) return localCaller("auth-off", clientAddress);
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "")?.[1];
  return bearer ? services.keys.authenticate(bearer, clientAddress) : null;
}

/** GET /artifacts/<sha256>, with a key (API clients) or a signed URL (browsers). */
async function serveArtifact(req: http.IncomingMessage, res: http.ServerResponse, url: URL, clientAddress: string | null, services: Services): Promise<void> {
  const sha256 = url.pathname.slice("/artifacts/".length);
  let caller = await authenticate(req, clientAddress, services);
  if (!caller && url.searchParams.has("sig")) caller = await signedCaller(services, sha256, url.searchParams, clientAddress);
  if (!caller) return sendUnauthenticated(res);
  return sendArtifact(req, res, sha256, caller, services);
}

/** The caller a signed artifact URL stands for: its key, if still valid, limited to the scopes it was signed with. */
async function signedCaller(services: Services, sha256: string, query: URLSearchParams, clientAddress: string | null): Promise<Caller | null> {
  const grant = services.artifactUrls.verify(sha256, query);
  if (!grant || grant.keyId === null) return null;
  const key = await services.keys.callerById(grant.keyId);
  if (!key) return null;
  return { ...key, clientAddress, scopes: new Set(grant.scopes.filter((scope) => key.scopes.has(scope))) };
}

/**
 * GET /artifacts/<sha256>: the stored file with its media type, if it belongs to one of the caller's domains (else
 * 404, as for an unknown hash). Content-addressed, so it never changes: the hash is a strong ETag; cached privately
 * (the same URL answers differently to different keys). Downloads of medical files are audited.
 */
async function sendArtifact(req: http.IncomingMessage, res: http.ServerResponse, sha256: string, caller: Caller, services: Services): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" });
    return void res.end();
  }
  const artifact = isSha256(sha256) ? await services.unscopedDb.prisma.artifact.findUnique({ where: { sha256 } }) : null;
  const domains = artifact ? await artifactDomains(services.unscopedDb.prisma, artifact.id, sha256) : new Set<Domain>();
  const visible = [...domains].some((domain) => caller.scopes.has(domain));
  const store = services.store;
  const size = artifact && visible ? await store.sizeOf(sha256) : null;
  if (!artifact || size === null) return sendJson(res, 404, { error: `no artifact ${sha256}` });
  if (domains.has("MEDICAL") && caller.scopes.has("MEDICAL"))
    await services.audit.record({ caller, kind: "download", operation: `${req.method} /artifacts`, targetIds: [sha256], outcome: "OK", domain: "MEDICAL" });
  const etag = `"${sha256}"`;
  const headers = {
    "content-type": artifact.mediaType,
    "cache-control": "private, max-age=31536000, immutable",
    etag,
    "x-content-type-options": "nosniff",
  };
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, headers);
    return void res.end();
  }
  res.writeHead(200, { ...headers, "content-length": size });
  if (req.method === "HEAD") return void res.end();
  await new Promise<void>((resolve, reject) => {
    store.read(sha256).on("error", reject).pipe(res).on("finish", resolve).on("error", reject);
  });
}

/** GET /graphql asking for HTML, with no operation: GraphiQL's page. */
function isGraphiQLPage(req: http.IncomingMessage, url: URL): boolean {
  return req.method === "GET" && url.search === "" && /text\/html/.test(req.headers.accept ?? "");
}

function sendUnauthenticated(res: http.ServerResponse): void {
  const body = { errors: [{ message: "authentication required: send Authorization: Bearer <API key>", extensions: { code: "UNAUTHENTICATED" } }] };
  sendJson(res, 401, body, { "www-authenticate": 'Bearer realm="rareforge"' });
}

/** The first admin key, printed once: it is also in the file, readable by this user only. */
function announceFirstAdminKey(key: string, file: string): void {
  process.stdout.write(
    `\nRareForge created its first admin key (shown once; also in ${file}, mode 0600):\n\n    ${key}\n\n` +
      `Send it as "Authorization: Bearer <key>"; make keys for people and tools with \`rareforge keys create\`.\n\n`,
  );
}

/** Names every deployment answers to: the loopback ones. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const WILDCARD_ADDRESSES = new Set(["0.0.0.0", "::", "[::]"]);

/**
 * Which Host header values are served: the loopback names and the bound address (unless it is a wildcard)
 * with the listening port, and RAREFORGE_ALLOWED_HOSTS (`name` on any port, `name:port` on that one).
 */
export function hostAllowList(config: Pick<Config, "host" | "allowedHosts">, port: number): (host: string | undefined) => boolean {
  const bracketed = (name: string) => (name.includes(":") && !name.startsWith("[") ? `[${name}]` : name);
  const names = [...LOOPBACK_NAMES, ...(WILDCARD_ADDRESSES.has(config.host) ? [] : [bracketed(config.host.toLowerCase())])];
  const exact = new Set(names.flatMap((name) => (port === 80 ? [name, `${name}:80`] : [`${name}:${port}`])));
  const anyPort = new Set<string>();
  for (const entry of config.allowedHosts) (/^(\[[^\]]*\]|[^:]+):\d+$/.test(entry) ? exact : anyPort).add(entry);
  return (host) => {
    if (!host) return false;
    const value = host.toLowerCase();
    if (exact.has(value)) return true;
    const name = value.startsWith("[") ? value.slice(0, value.indexOf("]") + 1) : value.replace(/:\d*$/, "");
    return anyPort.has(name);
  };
}

/** A percent-encoded path segment decoded, or null when its encoding is malformed (`%E0%A4%A`). */
function decodePath(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), "x-content-type-options": "nosniff" });
  res.end(text);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}
