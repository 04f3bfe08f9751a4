// Access control: API keys, roles, domain scopes, the caller of the work in progress, the audit log and signed
// artifact URLs. GraphQL's field rules live in graphql/access-rules.ts; the HTTP routes ask authenticate().
export { ROLES, DOMAINS, localCaller, runAsCaller, runAsSystem, currentCaller, hasRole, canSeeDomain, type Caller, type Role, type Domain } from "./caller.ts";
export { ForbiddenError, requireOwnerOrAdmin } from "./errors.ts";
export { ApiKeyService, newApiKeySchema, callerOfKey, type NewApiKey, type IssuedApiKey } from "./keys.ts";
export { AuditLog, type AuditEvent, type AuditFilter, type AuditKind } from "./audit.ts";
export { scopedToCaller, requireScope, SCOPED_MODELS } from "./scoping.ts";
export { ArtifactUrlSigner, type SignedArtifactGrant } from "./signed-urls.ts";
export { createFirstAdminKey, dataDirectoryKey, urlSigningKey, readAdminKeyFile, secretsDir, ADMIN_KEY_FILE } from "./secrets.ts";
export { artifactDomains } from "./artifacts.ts";
