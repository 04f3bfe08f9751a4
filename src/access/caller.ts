// Who is asking: an API key's holder, or the machine itself (the CLI, the worker, RAREFORGE_AUTH=off on loopback).
// The caller of the work in progress travels with it (AsyncLocalStorage), so the data layer can keep every read
// inside the caller's domains however deep in a service it happens (scoping.ts).
import { AsyncLocalStorage } from "node:async_hooks";

export const ROLES = ["VIEWER", "OPERATOR", "ADMIN"] as const;
export type Role = (typeof ROLES)[number];
export const DOMAINS = ["AUTOMOTIVE", "MEDICAL"] as const;
export type Domain = (typeof DOMAINS)[number];

export interface Caller {
  /** The API key's id; null for the machine itself. */
  readonly keyId: string | null;
  /** `rf_<prefix>` of the key, or a word saying who the machine is (`cli`, `auth-off`). */
  readonly label: string;
  readonly role: Role;
  /** Domains whose data exist for this caller. */
  readonly scopes: ReadonlySet<Domain>;
  /** Where the request came from (audit log). */
  readonly clientAddress: string | null;
}

/** The machine itself: every role and domain. The CLI and the worker act as it; so does every request when auth is off. */
export function localCaller(label: "cli" | "auth-off" | "system", clientAddress: string | null = null): Caller {
  return { keyId: null, label, role: "ADMIN", scopes: new Set(DOMAINS), clientAddress };
}

const current = new AsyncLocalStorage<Caller>();

/** Runs work as caller: every database read inside it is limited to the caller's domains. */
export function runAsCaller<T>(caller: Caller, work: () => T): T {
  return current.run(caller, work);
}

/** Runs work as the machine itself (background work that outlives the request that started it). */
export function runAsSystem<T>(work: () => T): T {
  return current.exit(work);
}

/** The caller of the work in progress; undefined outside any request (the machine itself). */
export function currentCaller(): Caller | undefined {
  return current.getStore();
}

export function hasRole(caller: Caller, needed: Role): boolean {
  return ROLES.indexOf(caller.role) >= ROLES.indexOf(needed);
}

/** Whether data of a domain exists for the work in progress (always, outside any request). */
export function canSeeDomain(domain: Domain): boolean {
  const caller = currentCaller();
  return caller === undefined || caller.scopes.has(domain);
}
