// Short-lived signed artifact URLs for browsers, which cannot put a key on `<img src>`: HMAC-SHA256 over the
// artifact, the key it was handed to, that key's scopes and the expiry. The route checks the signature, the
// expiry and that the key is still valid, then serves the artifact only if it belongs to the signed scopes.
import { createHmac, timingSafeEqual } from "node:crypto";
import { DOMAINS, type Caller, type Domain } from "./caller.ts";

export interface SignedArtifactGrant {
  /** The key the URL was handed to; null when it was handed out with authentication off. */
  keyId: string | null;
  scopes: Domain[];
}

export class ArtifactUrlSigner {
  constructor(
    private readonly secret: Buffer,
    private readonly lifetimeSeconds: number,
  ) {}

  /** `/artifacts/<sha256>?kid=…&scopes=…&exp=…&sig=…`, valid for the configured lifetime. */
  sign(sha256: string, caller: Caller, now = Date.now()): string {
    const kid = caller.keyId ?? "local";
    const scopes = DOMAINS.filter((domain) => caller.scopes.has(domain)).join(",");
    const exp = Math.floor(now / 1000) + this.lifetimeSeconds;
    const sig = this.mac(sha256, kid, scopes, exp);
    return `/artifacts/${sha256}?${new URLSearchParams({ kid, scopes, exp: String(exp), sig })}`;
  }

  /** The grant a signed query string carries, or null if it is missing, forged, altered or expired. */
  verify(sha256: string, query: URLSearchParams, now = Date.now()): SignedArtifactGrant | null {
    const kid = query.get("kid");
    const scopes = query.get("scopes");
    const exp = Number(query.get("exp"));
    const sig = query.get("sig");
    if (kid === null || scopes === null || sig === null || !Number.isInteger(exp)) return null;
    if (exp * 1000 <= now) return null;
    const expected = Buffer.from(this.mac(sha256, kid, scopes, exp), "hex");
    const actual = Buffer.from(sig, "hex");
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;
    const domains = scopes.split(",").filter((scope): scope is Domain => (DOMAINS as readonly string[]).includes(scope));
    return { keyId: kid === "local" ? null : kid, scopes: domains };
  }

  private mac(sha256: string, kid: string, scopes: string, exp: number): string {
    return createHmac("sha256", this.secret).update(`rareforge-artifact\n${sha256}\n${kid}\n${scopes}\n${exp}`).digest("hex");
  }
}
