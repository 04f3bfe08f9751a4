// API keys (admin), the audit log (admin) and `me` (any key): who is asking, and what it may do.
import { ROLES, type Caller, type IssuedApiKey } from "../../access/index.ts";
import { NotFoundError, ValidationError } from "../../errors.ts";
import type { AuditEntry } from "../../generated/prisma/client.ts";
import { builder } from "../builder.ts";
import { DomainEnum } from "./scenarios.ts";

const RoleEnum = builder.enumType("Role", {
  values: ROLES,
  description: "VIEWER reads; OPERATOR also defines scenarios, generates, scores, searches, exports and uploads; ADMIN also manages keys, registers detectors, reads the audit log and cancels others' jobs.",
});

const ApiKeyRef = builder.prismaObject("ApiKey", {
  description: "An API key, without its secret (shown once, when it is created or rotated).",
  fields: (t) => ({
    id: t.exposeString("id"),
    name: t.exposeString("name"),
    prefix: t.exposeString("prefix", { description: "The visible start of the key (rf_…)." }),
    role: t.field({ type: RoleEnum, resolve: (k) => k.role }),
    scopes: t.field({ type: [DomainEnum], resolve: (k) => k.scopes }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
    lastUsedAt: t.expose("lastUsedAt", { type: "DateTime", nullable: true, description: "To the minute." }),
    rotatedFromId: t.exposeString("rotatedFromId", { nullable: true }),
  }),
});

const IssuedApiKeyRef = builder.objectRef<IssuedApiKey>("IssuedApiKey").implement({
  fields: (t) => ({
    key: t.field({ type: ApiKeyRef, resolve: (issued) => issued.key }),
    secret: t.exposeString("secret", { description: "The whole key, for Authorization: Bearer. Shown this once; only its hash is stored." }),
  }),
});

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  description: "One entry of the append-only audit log.",
  fields: (t) => ({
    id: t.string({ resolve: (e) => String(e.id) }),
    at: t.expose("at", { type: "DateTime" }),
    keyId: t.exposeString("keyId", { nullable: true, description: "Null: the CLI, or a request with RAREFORGE_AUTH=off." }),
    keyPrefix: t.exposeString("keyPrefix", { nullable: true }),
    kind: t.exposeString("kind", { description: "mutation, query, subscription or download" }),
    operation: t.exposeString("operation"),
    targetIds: t.exposeStringList("targetIds"),
    outcome: t.exposeString("outcome", { description: "OK, the result's error type, FORBIDDEN or ERROR" }),
    clientAddress: t.exposeString("clientAddress", { nullable: true }),
    domain: t.field({ type: DomainEnum, nullable: true, resolve: (e) => e.domain }),
  }),
});

const CallerRef = builder.objectRef<Caller>("Caller").implement({
  description: "Who is asking.",
  fields: (t) => ({
    keyId: t.exposeString("keyId", { nullable: true }),
    label: t.exposeString("label", { description: "The key's prefix, or `auth-off`." }),
    role: t.field({ type: RoleEnum, resolve: (c) => c.role }),
    scopes: t.field({ type: [DomainEnum], resolve: (c) => [...c.scopes] }),
  }),
});

const NewApiKeyInput = builder.inputType("NewApiKeyInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    role: t.field({ type: RoleEnum, required: true }),
    scopes: t.field({ type: [DomainEnum], required: true }),
    expiresAt: t.field({ type: "DateTime", required: false }),
  }),
});

const AuditFilterInput = builder.inputType("AuditFilter", {
  fields: (t) => ({
    keyId: t.string({ required: false }),
    operation: t.string({ required: false }),
    kind: t.string({ required: false }),
    outcome: t.string({ required: false }),
    targetId: t.string({ required: false }),
    since: t.field({ type: "DateTime", required: false }),
    until: t.field({ type: "DateTime", required: false }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({ type: CallerRef, description: "The caller: the key's role and domain scopes.", resolve: (_root, _args, ctx) => ctx.caller! }),
  apiKeys: t.prismaField({
    type: ["ApiKey"],
    description: "Every API key, revoked ones too (admin).",
    resolve: (query, _root, _args, ctx) => ctx.db.prisma.apiKey.findMany({ ...query, orderBy: { createdAt: "asc" } }),
  }),
  auditLog: t.field({
    type: [AuditEntryRef],
    description: "Audit entries, newest first (admin; entries about medical data only for keys with the medical scope).",
    args: { filter: t.arg({ type: AuditFilterInput, required: false }), first: t.arg.int({ required: false, description: "At most 1000; default 100." }) },
    errors: { types: [ValidationError] },
    resolve: (_root, args, ctx) => ctx.audit.list({ ...(args.filter ?? {}), first: args.first } as never),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: IssuedApiKeyRef,
    description: "A new key; its secret is in the result only (admin).",
    args: { input: t.arg({ type: NewApiKeyInput, required: true }) },
    errors: { types: [ValidationError] },
    resolve: (_root, args, ctx) => ctx.keys.create({ ...args.input, expiresAt: args.input.expiresAt ?? null }),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    description: "Revokes a key by id or prefix; it is refused from then on (admin).",
    args: { id: t.arg.string({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: (_root, args, ctx) => ctx.keys.revoke(args.id),
  }),
  rotateApiKey: t.field({
    type: IssuedApiKeyRef,
    description: "A new secret for a key (same name, role, scopes and expiry); the old one is revoked (admin).",
    args: { id: t.arg.string({ required: true }) },
    errors: { types: [NotFoundError, ValidationError] },
    resolve: (_root, args, ctx) => ctx.keys.rotate(args.id),
  }),
}));
