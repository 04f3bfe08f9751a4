// Secrets the service keeps in its data directory (`secrets/`, mode 0700, files 0600): the first admin key, shown
// once, and random keys made once per data directory (the one that signs artifact URLs, de-identification's).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename } from "node:fs/promises";
import path from "node:path";
import type { ApiKeyService, IssuedApiKey } from "./keys.ts";

export const ADMIN_KEY_FILE = "admin-key";
const SIGNING_KEY_FILE = "url-signing-key";

export function secretsDir(dataDir: string): string {
  return path.join(dataDir, "secrets");
}

async function ensureSecretsDir(dataDir: string): Promise<string> {
  const dir = secretsDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  return dir;
}

/** Writes a new secret file readable by the owner only; refuses to overwrite one. */
async function writeSecret(file: string, content: string | Uint8Array): Promise<void> {
  const handle = await open(file, "wx", 0o600);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}

/**
 * On a service with no API key at all (its first start), creates an admin key for every domain and writes it to
 * secrets/admin-key; returns it so the caller can print it once. Later starts return null.
 */
export async function createFirstAdminKey(dataDir: string, keys: ApiKeyService): Promise<{ issued: IssuedApiKey; file: string } | null> {
  if ((await keys.count()) > 0) return null;
  const dir = await ensureSecretsDir(dataDir);
  const issued = await keys.create({ name: "first admin (created at first start)", role: "ADMIN", scopes: ["AUTOMOTIVE", "MEDICAL"] });
  const file = path.join(dir, ADMIN_KEY_FILE);
  // a file left by an earlier database (a wiped database, same data directory) is replaced
  await writeSecret(`${file}.${process.pid}.tmp`, `${issued.secret}\n`);
  await rename(`${file}.${process.pid}.tmp`, file);
  return { issued, file };
}

/**
 * A random 32-byte key kept in secrets/<fileName>, made on first use: of two processes making it at once, one wins
 * and both read the winner's key.
 */
export async function dataDirectoryKey(dataDir: string, fileName: string): Promise<Uint8Array> {
  const file = path.join(await ensureSecretsDir(dataDir), fileName);
  try {
    await writeSecret(file, randomBytes(32));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return new Uint8Array(await readFile(file));
}

/** The URL signing key: RAREFORGE_URL_SIGNING_KEY when set (several API processes), else secrets/url-signing-key, made once. */
export async function urlSigningKey(dataDir: string, configured: string | undefined): Promise<Buffer> {
  return configured ? Buffer.from(configured, "utf8") : Buffer.from(await dataDirectoryKey(dataDir, SIGNING_KEY_FILE));
}

/** The admin key written at first start, if this data directory has one (the CLI's default key for --url commands). */
export async function readAdminKeyFile(dataDir: string): Promise<string | null> {
  try {
    return (await readFile(path.join(secretsDir(dataDir), ADMIN_KEY_FILE), "utf8")).trim() || null;
  } catch {
    return null;
  }
}
