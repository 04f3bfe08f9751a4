// Domain scoping in the data layer: while work runs as a caller (caller.ts), every read, update and delete of a
// domain-bearing model is limited to the caller's domains, so data of another domain does not exist for it —
// in a GraphQL list, a lookup by id, a relay node, a report or an export alike (not found, never forbidden).
// Creation is not scoped here: services check the domain of what they create (requireScope).
import type { PrismaClient } from "../db/index.ts";
import { NotFoundError } from "../errors.ts";
import { currentCaller, DOMAINS, type Domain } from "./caller.ts";

type Where = Record<string, unknown>;

/** Rows listing their domains (`domains String[]`) are seen by keys holding every one of them. */
const allDomainsIn = (scopes: Domain[]): Where => {
  const missing = DOMAINS.filter((domain) => !scopes.includes(domain));
  // one `has` per domain: `hasSome` on an enum list reaches PGlite as a malformed array literal
  return { AND: missing.map((domain) => ({ NOT: { domains: { has: domain } } })) };
};

/** A scenario version's domain is its scenario's; jobs, samples and searches belong to a version. */
const versionIn = (scopes: Domain[]): Where => ({ scenario: { domain: { in: scopes } } });

/** Prisma's model names (the client's `$allModels` keys) with the filter that keeps a row inside `scopes`. */
const SCOPE_FILTERS: Record<string, (scopes: Domain[]) => Where> = {
  Scenario: (scopes) => ({ domain: { in: scopes } }),
  ScenarioVersion: versionIn,
  GenerationJob: (scopes) => ({ scenarioVersion: versionIn(scopes) }),
  Sample: (scopes) => ({ scenarioVersion: versionIn(scopes) }),
  Score: (scopes) => ({ sample: { scenarioVersion: versionIn(scopes) } }),
  Detection: (scopes) => ({ sample: { scenarioVersion: versionIn(scopes) } }),
  FailureSearch: (scopes) => ({ scenarioVersion: versionIn(scopes) }),
  ModelPackage: (scopes) => ({ domain: { in: scopes } }),
  DetectorPackage: (scopes) => ({ OR: [{ domain: null }, { domain: { in: scopes } }] }),
  // a reference upload carries its domain (DICOM scans MEDICAL, camera frames AUTOMOTIVE); insertions follow it
  ReferenceScan: (scopes) => ({ domain: { in: scopes } }),
  PathologyInsertion: (scopes) => (scopes.includes("MEDICAL") ? {} : { id: { in: [] } }),
  HazardInsertion: (scopes) => ({ referenceScan: { domain: { in: scopes } } }),
  ReferenceSet: (scopes) => ({ domain: { in: scopes } }),
  ReferenceSetFrame: (scopes) => ({ set: { domain: { in: scopes } } }),
  FrameScore: (scopes) => ({ referenceScan: { domain: { in: scopes } } }),
  // an export is seen by keys holding every domain its samples come from
  DatasetExport: (scopes) => allDomainsIn(scopes),
  AuditEntry: (scopes) => ({ OR: [{ domain: null }, { domain: { in: scopes } }] }),
  // a suite, its versions and runs are seen by keys holding every domain of the scenarios it names
  Suite: (scopes) => allDomainsIn(scopes),
  SuiteVersion: (scopes) => allDomainsIn(scopes),
  SuiteRun: (scopes) => allDomainsIn(scopes),
  SuiteCriterionResult: (scopes) => ({ run: allDomainsIn(scopes) }),
};

/** Operations whose `where` is narrowed. findUnique-style `where`s take extra filters beside the unique field. */
const SCOPED_OPERATIONS = new Set([
  "findUnique",
  "findUniqueOrThrow",
  "findFirst",
  "findFirstOrThrow",
  "findMany",
  "count",
  "aggregate",
  "groupBy",
  "update",
  "updateMany",
  "updateManyAndReturn",
  "delete",
  "deleteMany",
]);

/** The models whose rows belong to a domain (the access tests check every one). */
export const SCOPED_MODELS = Object.keys(SCOPE_FILTERS);

/** The client, with every read, update and delete kept inside the current caller's domains. */
export function scopedToCaller(prisma: PrismaClient): PrismaClient {
  const extended = prisma.$extends({
    query: {
      $allModels: {
        async $allOperations({ model, operation, args, query }) {
          const filter = SCOPE_FILTERS[model];
          const caller = currentCaller();
          if (!filter || !caller || !SCOPED_OPERATIONS.has(operation) || caller.scopes.size === DOMAINS.length) return query(args);
          const scoped = filter([...caller.scopes]);
          const where = (args as { where?: Where }).where;
          return query({ ...args, where: where ? { ...where, AND: [...asArray(where.AND), scoped] } : scoped } as typeof args);
        },
      },
    },
  });
  // A query-only extension keeps every model method's signature.
  return extended as unknown as PrismaClient;
}

const asArray = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * Refuses to create data in a domain the current caller cannot see — as not found, like any of its data: a
 * caller without the medical scope learns nothing about the medical part of the service.
 */
export function requireScope(domain: Domain, resource: string, key: string): void {
  const caller = currentCaller();
  if (caller && !caller.scopes.has(domain)) throw new NotFoundError(resource, key);
}
