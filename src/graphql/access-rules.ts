// Who may call each root field, and what the audit log keeps of it. Every Query, Mutation and Subscription field
// needs a rule here: building the schema fails on a field without one (and the access matrix test runs every
// field as every role, with and without the medical scope).
import { typeBrandKey } from "@pothos/core";
import { GraphQLError, type GraphQLFieldConfig, type GraphQLSchema } from "graphql";
import { ForbiddenError, hasRole, type AuditKind, type Caller, type Domain, type Role } from "../access/index.ts";
import type { GraphQLContext } from "./context.ts";

export interface FieldRule {
  /** The least role that may call it. */
  role: Role;
  /** A write that only exists in one domain: a caller without its scope is refused. */
  domain?: Domain;
  /** A write whose domain its arguments choose (its service checks the scope): the audit entry's domain. */
  domainOf?: (args: Record<string, unknown>) => Domain;
  /** A read that can return medical data: audited when the caller holds the medical scope. */
  medicalRead?: boolean;
}

type RootType = "Query" | "Mutation" | "Subscription";

const viewer: FieldRule = { role: "VIEWER" };
const viewerOfMedical: FieldRule = { role: "VIEWER", medicalRead: true };
const operator: FieldRule = { role: "OPERATOR" };
const admin: FieldRule = { role: "ADMIN" };

export const FIELD_RULES: Record<RootType, Record<string, FieldRule>> = {
  Query: {
    me: viewer,
    node: viewerOfMedical,
    nodes: viewerOfMedical,
    scenarios: viewer,
    scenario: viewer,
    previewParameters: viewer,
    job: viewer,
    jobs: viewer,
    sample: viewerOfMedical,
    samples: viewerOfMedical,
    detector: viewer,
    detectors: viewer,
    scenarioReport: viewerOfMedical,
    jobReport: viewerOfMedical,
    failureSearch: viewerOfMedical,
    failureSearches: viewer,
    suites: viewer,
    suite: viewer,
    // a run's report names samples and their parameters: medical ones are audited
    suiteRun: viewerOfMedical,
    datasetExport: viewer,
    exportSamples: viewerOfMedical,
    referenceScan: viewerOfMedical,
    referenceScans: viewerOfMedical,
    pathologyInsertion: viewerOfMedical,
    hazardInsertion: viewer,
    referenceSet: viewer,
    referenceSets: viewer,
    apiKeys: admin,
    auditLog: admin,
    // a PACS holds medical data only: its endpoints and searches need the medical scope
    pacsEndpoints: { role: "VIEWER", domain: "MEDICAL" },
    pacsSearch: { role: "OPERATOR", domain: "MEDICAL", medicalRead: true },
  },
  Mutation: {
    createScenario: operator,
    updateScenario: operator,
    archiveScenario: operator,
    importScenarios: operator,
    requestGeneration: operator,
    cancelJob: operator,
    reproduceSample: operator,
    scoreSamples: operator,
    startFailureSearch: operator,
    cancelFailureSearch: operator,
    // a suite's domains are its scenarios': the service sees only the caller's (scoping), so a medical one needs the medical scope
    createSuite: operator,
    updateSuite: operator,
    runSuite: operator,
    exportDataset: operator,
    // the upload's domain is an argument: the service refuses one outside the caller's scopes
    uploadReferenceScan: { role: "OPERATOR", domainOf: (args) => (args["domain"] === "AUTOMOTIVE" ? "AUTOMOTIVE" : "MEDICAL") },
    insertHazard: { role: "OPERATOR", domain: "AUTOMOTIVE" },
    insertPathology: { role: "OPERATOR", domain: "MEDICAL" },
    importFromPacs: { role: "OPERATOR", domain: "MEDICAL" },
    sendToPacs: { role: "OPERATOR", domain: "MEDICAL" },
    createReferenceSet: { role: "OPERATOR", domain: "AUTOMOTIVE" },
    addReferenceSetFrames: { role: "OPERATOR", domain: "AUTOMOTIVE" },
    removeReferenceSetFrames: { role: "OPERATOR", domain: "AUTOMOTIVE" },
    setReferenceSetCamera: { role: "OPERATOR", domain: "AUTOMOTIVE" },
    registerDetector: admin,
    registerModel: admin,
    createApiKey: admin,
    revokeApiKey: admin,
    rotateApiKey: admin,
  },
  Subscription: {
    jobProgress: viewer,
    searchProgress: viewerOfMedical,
    suiteRunProgress: viewerOfMedical,
  },
};

const KIND: Record<RootType, AuditKind> = { Query: "query", Mutation: "mutation", Subscription: "subscription" };
/** Argument names (top level, or inside `input`) that name what an operation is about. */
const TARGET_ARGUMENTS = ["id", "ids", "scenarioId", "jobId", "sampleId", "searchId", "detectorId", "referenceScanId", "exportId", "sampleIds", "suiteId", "baselineDetectorId", "runId"];

export class MissingAccessRuleError extends Error {
  override name = "MissingAccessRuleError";
}

/** The schema with every root field checked against its rule and audited; throws on a root field without a rule. */
export function withAccessRules(schema: GraphQLSchema): GraphQLSchema {
  const roots: [RootType, ReturnType<GraphQLSchema["getQueryType"]>][] = [
    ["Query", schema.getQueryType()],
    ["Mutation", schema.getMutationType()],
    ["Subscription", schema.getSubscriptionType()],
  ];
  const missing: string[] = [];
  for (const [rootType, type] of roots) {
    if (!type) continue;
    for (const field of Object.values(type.getFields())) {
      const rule = FIELD_RULES[rootType][field.name];
      if (!rule) {
        missing.push(`${rootType}.${field.name}`);
        continue;
      }
      guardField(field as unknown as GraphQLFieldConfig<unknown, GraphQLContext>, rootType, field.name, rule);
    }
  }
  if (missing.length > 0) throw new MissingAccessRuleError(`root fields without an access rule (src/graphql/access-rules.ts): ${missing.join(", ")}`);
  return schema;
}

function guardField(field: GraphQLFieldConfig<unknown, GraphQLContext>, rootType: RootType, name: string, rule: FieldRule): void {
  const resolve = field.resolve;
  const subscribe = field.subscribe;
  const admit = async (context: GraphQLContext, args: Record<string, unknown>): Promise<Caller> => {
    const caller = context.caller;
    if (!caller) throw new GraphQLError("authentication required: send Authorization: Bearer <API key>", { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
    const refusal = !hasRole(caller, rule.role)
      ? `${name} needs the ${rule.role.toLowerCase()} role (this key is ${caller.role.toLowerCase()})`
      : rule.domain && !caller.scopes.has(rule.domain)
        ? `${name} needs the ${rule.domain.toLowerCase()} scope`
        : null;
    if (refusal) {
      if (rootType === "Mutation") await context.audit.record({ caller, kind: "mutation", operation: name, targetIds: targetsOf(args), outcome: "FORBIDDEN", domain: auditDomain(rule, args) });
      throw forbidden(refusal);
    }
    return caller;
  };
  // a subscription is admitted when it subscribes (its resolve then maps each event); every other field when it resolves
  const isSubscription = rootType === "Subscription";
  if (isSubscription && subscribe) {
    field.subscribe = async (source, args, context, info) => {
      await admit(context, args);
      return subscribe(source, args, context, info);
    };
  }
  if (!resolve) return;
  field.resolve = async (source, args, context, info) => {
    if (!isSubscription) await admit(context, args);
    const caller = context.caller!;
    let result: unknown;
    try {
      result = await resolve(source, args, context, info);
    } catch (error) {
      if (rootType === "Mutation") await context.audit.record({ caller, kind: "mutation", operation: name, targetIds: targetsOf(args), outcome: outcomeOfError(error), domain: auditDomain(rule, args) });
      if (error instanceof ForbiddenError) throw forbidden(error.message);
      throw error;
    }
    const audited = rootType === "Mutation" || (rule.medicalRead === true && caller.scopes.has("MEDICAL") && !isSubscription);
    if (audited)
      await context.audit.record({
        caller,
        kind: KIND[rootType],
        operation: name,
        targetIds: [...targetsOf(args), ...idsOf(result)],
        outcome: returnedErrorName(result) ?? "OK",
        domain: rootType === "Mutation" ? auditDomain(rule, args) : "MEDICAL",
      });
    return result;
  };
}

/**
 * The typed error a resolver returned as its result, by name: the errors plugin hands it on wrapped in a proxy
 * that is no `instanceof Error` but answers Pothos's type brand with the error's class.
 */
function returnedErrorName(result: unknown): string | null {
  if (result instanceof Error) return result.name;
  if (typeof result !== "object" || result === null) return null;
  const brand = (result as Record<PropertyKey, unknown>)[typeBrandKey];
  if (typeof brand !== "function" || !(brand.prototype instanceof Error)) return null;
  const name = (result as { name?: unknown }).name;
  return typeof name === "string" ? name : brand.name;
}

function auditDomain(rule: FieldRule, args: Record<string, unknown>): Domain | null {
  return rule.domain ?? rule.domainOf?.(args) ?? null;
}

function forbidden(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "FORBIDDEN", http: { status: 403 } } });
}

function outcomeOfError(error: unknown): string {
  if (error instanceof ForbiddenError) return "FORBIDDEN";
  return error instanceof Error && error.name !== "Error" ? error.name : "ERROR";
}

function targetsOf(args: Record<string, unknown>): string[] {
  const out: string[] = [];
  const collect = (from: unknown) => {
    if (typeof from !== "object" || from === null) return;
    for (const name of TARGET_ARGUMENTS) {
      const value = (from as Record<string, unknown>)[name];
      if (typeof value === "string") out.push(value);
      else if (Array.isArray(value)) out.push(...value.filter((v): v is string => typeof v === "string"));
    }
  };
  collect(args);
  collect(args["input"]);
  collect(args["filter"]);
  return out;
}

/** The ids of what a resolver returned: a row, a list of rows, or a connection's nodes (first 100). */
function idsOf(result: unknown): string[] {
  if (result === null || typeof result !== "object" || result instanceof Error) return [];
  if (Array.isArray(result)) return result.flatMap((item) => idsOf(item)).slice(0, 100);
  const record = result as Record<string, unknown>;
  if (typeof record["id"] === "string") return [record["id"]];
  if (Array.isArray(record["edges"])) return (record["edges"] as { node?: unknown }[]).flatMap((edge) => idsOf(edge.node)).slice(0, 100);
  return [];
}
