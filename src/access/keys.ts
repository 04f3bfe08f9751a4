// API keys: random, shown once, stored as their SHA-256 only, found by a visible prefix; named, with a role, domain
// scopes and an optional expiry; revoked or rotated, never deleted (audit entries keep naming them).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Database } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { ApiKey } from "../generated/prisma/client.ts";
import { DOMAINS, ROLES, type Caller, type Domain, type Role } from "./caller.ts";

/** `rf_<12 hex>_<43 base64url>`: the prefix (12 hex digits, 48 bits) is stored in clear, the rest only hashed. */
const KEY_PATTERN = /^(rf_[0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;
/** How long a verified key is trusted without reading its row again (a revocation elsewhere takes this long here). */
const VERIFIED_KEY_TTL_MS = 5_000;
const LAST_USED_RESOLUTION_MS = 60_000;

export const newApiKeySchema = z.object({
  name: z.string().trim().min(1, "a key needs a name").max(100, "at most 100 characters"),
  role: z.enum(ROLES),
  scopes: z
    .array(z.enum(DOMAINS))
    .min(1, "a key needs at least one domain scope (AUTOMOTIVE, MEDICAL)")
    .transform((scopes) => [...new Set(scopes)]),
  expiresAt: z
    .date()
    .nullish()
    .refine((date) => date == null || date.getTime() > Date.now(), "the expiry must be in the future"),
});
export type NewApiKey = z.input<typeof newApiKeySchema>;

export interface IssuedApiKey {
  /** The stored key (no secret). */
  readonly key: ApiKey;
  /** The whole key, `rf_<prefix>_<secret>`: shown once, never stored. */
  readonly secret: string;
}

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export class ApiKeyService {
  private readonly verified = new Map<string, { key: ApiKey; checkedAt: number }>();

  constructor(private readonly db: Database) {}

  async create(input: NewApiKey, rotatedFromId: string | null = null): Promise<IssuedApiKey> {
    const parsed = newApiKeySchema.safeParse(input);
    if (!parsed.success)
      throw new ValidationError(parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })), "invalid API key");
    const prefix = `rf_${randomBytes(6).toString("hex")}`;
    const secret = `${prefix}_${randomBytes(32).toString("base64url")}`;
    const key = await this.db.prisma.apiKey.create({
      data: {
        name: parsed.data.name,
        prefix,
        secretHash: hashKey(secret),
        role: parsed.data.role,
        scopes: parsed.data.scopes,
        expiresAt: parsed.data.expiresAt ?? null,
        rotatedFromId,
      },
    });
    return { key, secret };
  }

  list(): Promise<ApiKey[]> {
    return this.db.prisma.apiKey.findMany({ orderBy: { createdAt: "asc" } });
  }

  count(): Promise<number> {
    return this.db.prisma.apiKey.count();
  }

  /** A key by its id or its prefix (`rf_…`). */
  async find(idOrPrefix: string): Promise<ApiKey> {
    const where = /^rf_[0-9a-f]{12}$/.test(idOrPrefix)
      ? { prefix: idOrPrefix }
      : z.uuid().safeParse(idOrPrefix).success
        ? { id: idOrPrefix }
        : null;
    const key = where && (await this.db.prisma.apiKey.findUnique({ where }));
    if (!key) throw new NotFoundError("API key", idOrPrefix);
    return key;
  }

  /** Revokes a key at once (this process); other processes stop trusting it within VERIFIED_KEY_TTL_MS. */
  async revoke(idOrPrefix: string): Promise<ApiKey> {
    const key = await this.find(idOrPrefix);
    this.verified.delete(key.prefix);
    if (key.revokedAt) return key;
    return this.db.prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
  }

  /** A new key with the old one's name, role, scopes and expiry; the old one is revoked. */
  async rotate(idOrPrefix: string): Promise<IssuedApiKey> {
    const old = await this.find(idOrPrefix);
    if (old.revokedAt) throw new ValidationError([{ path: "id", message: `key ${old.prefix} is revoked; create a new one` }], "cannot rotate");
    const expiresAt = old.expiresAt && old.expiresAt.getTime() > Date.now() ? old.expiresAt : null;
    const issued = await this.create({ name: old.name, role: old.role, scopes: old.scopes, expiresAt }, old.id);
    await this.revoke(old.id);
    return issued;
  }

  /** The caller a presented key stands for, or null (unknown, malformed, revoked or expired key). */
  async authenticate(presented: string, clientAddress: string | null): Promise<Caller | null> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return null;
    const prefix = match[1]!;
    const now = Date.now();
    let entry = this.verified.get(prefix);
    if (!entry || now - entry.checkedAt > VERIFIED_KEY_TTL_MS) {
      const key = await this.db.prisma.apiKey.findUnique({ where: { prefix } });
      if (!key) {
        this.verified.delete(prefix);
        return null;
      }
      entry = { key, checkedAt: now };
      this.verified.set(prefix, entry);
    }
    const { key } = entry;
    const expected = Buffer.from(key.secretHash, "hex");
    const actual = Buffer.from(hashKey(presented), "hex");
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    if (key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= now)) return null;
    if (!key.lastUsedAt || now - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      key.lastUsedAt = new Date(now);
      void this.db.prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: key.lastUsedAt } }).catch(() => {});
    }
    return callerOfKey(key, clientAddress);
  }

  /** The caller of a key by id, if it is still valid (signed URLs name their key by id). */
  async callerById(keyId: string): Promise<Caller | null> {
    if (!z.uuid().safeParse(keyId).success) return null;
    const key = await this.db.prisma.apiKey.findUnique({ where: { id: keyId } });
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= Date.now())) return null;
    return callerOfKey(key, null);
  }
}

export function callerOfKey(key: Pick<ApiKey, "id" | "prefix" | "role" | "scopes">, clientAddress: string | null): Caller {
  return { keyId: key.id, label: key.prefix, role: key.role as Role, scopes: new Set(key.scopes as Domain[]), clientAddress };
}
