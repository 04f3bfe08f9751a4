// The role × scope matrix, derived from the schema itself: every Query, Mutation and Subscription field is called
// over HTTP anonymously and as viewer, operator and admin, each with and without the medical scope. A field the
// rules refuse gets FORBIDDEN (and an audited refusal, for a mutation); a field they allow gets past the rules
// (whatever its arguments then make of it); anonymous requests get 401. A new field without a rule fails here,
// because the schema refuses to build (withAccessRules) and because the rule table is checked against it.
import { buildSchema, GraphQLObjectType, getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLField, type GraphQLInputType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasRole, type Domain, type Role } from "../../src/access/index.ts";
import type { Database } from "../../src/db/index.ts";
import { FIELD_RULES, MissingAccessRuleError, withAccessRules } from "../../src/graphql/access-rules.ts";
import { schema } from "../../src/graphql/schema/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

type RootType = "Query" | "Mutation" | "Subscription";
const ROOTS: [RootType, GraphQLObjectType][] = [
  ["Query", schema.getQueryType()!],
  ["Mutation", schema.getMutationType()!],
  ["Subscription", schema.getSubscriptionType()!],
];
const SCOPE_SETS: Domain[][] = [["AUTOMOTIVE"], ["AUTOMOTIVE", "MEDICAL"]];
const ROLES: Role[] = ["VIEWER", "OPERATOR", "ADMIN"];
const SOME_GLOBAL_ID = Buffer.from("Scenario:00000000-0000-4000-8000-000000000000").toString("base64");

/** A literal of the type that passes GraphQL validation (what the resolver then makes of it does not matter here). */
function literal(type: GraphQLInputType): string {
  if (isNonNullType(type)) return literal(type.ofType);
  if (isListType(type)) return `[${literal(type.ofType)}]`;
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const required = Object.values(type.getFields()).filter((f) => isNonNullType(f.type) && f.defaultValue === undefined);
    return `{ ${required.map((f) => `${f.name}: ${literal(f.type)}`).join(", ")} }`;
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "ID":
        return JSON.stringify(SOME_GLOBAL_ID);
      case "Int":
      case "Float":
        return "1";
      case "Boolean":
        return "false";
      case "DateTime":
        return '"2099-01-01T00:00:00Z"';
      case "JSON":
        return "{}";
      default:
        return '"x"';
    }
  }
  throw new Error(`no literal for ${String(type)}`);
}

/** One operation calling just this field with its required arguments, selecting `__typename` (or nothing, for a scalar). */
function operationFor(rootType: RootType, field: GraphQLField<unknown, unknown>): { query: string; files: string[] } {
  const files: string[] = [];
  const args = field.args
    .filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)
    .map((arg) => {
      if (getNamedType(arg.type).name === "File") {
        files.push(arg.name);
        return `${arg.name}: $${arg.name}`;
      }
      return `${arg.name}: ${literal(arg.type)}`;
    });
  const variables = files.map((name) => `$${name}: File!`);
  const named = getNamedType(field.type);
  const selection = isScalarType(named) || isEnumType(named) ? "" : " { __typename }";
  const head = `${rootType.toLowerCase()} Matrix${variables.length ? `(${variables.join(", ")})` : ""}`;
  return { query: `${head} { ${field.name}${args.length ? `(${args.join(", ")})` : ""}${selection} }`, files };
}

interface Outcome {
  status: number;
  codes: string[];
}

async function call(api: TestService, key: string | null, rootType: RootType, field: GraphQLField<unknown, unknown>): Promise<Outcome> {
  const { query, files } = operationFor(rootType, field);
  const authorization: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  let response: Response;
  if (files.length > 0) {
    const form = new FormData();
    form.set("operations", JSON.stringify({ query, variables: Object.fromEntries(files.map((f) => [f, null])) }));
    form.set("map", JSON.stringify(Object.fromEntries(files.map((f, i) => [String(i), [`variables.${f}`]]))));
    files.forEach((_f, i) => form.set(String(i), new Blob([new Uint8Array([1, 2, 3])]), "x.png"));
    response = await fetch(`${api.service.url}/graphql`, { method: "POST", body: form, headers: { "apollo-require-preflight": "true", ...authorization } });
  } else if (rootType === "Subscription") {
    const controller = new AbortController();
    response = await fetch(`${api.service.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...authorization },
      body: JSON.stringify({ query }),
      signal: controller.signal,
    });
    if (response.status !== 200) return { status: response.status, codes: [] };
    // the first event says whether the rules let it through; an allowed subscription may also just wait
    const reader = response.body!.getReader();
    let text = "";
    const deadline = Date.now() + 3000;
    while (!/\ndata: .*\n/.test(`\n${text}`) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((resolve) => setTimeout(() => resolve(null), deadline - Date.now()))]);
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    controller.abort();
    const data = /^data: (.*)$/m.exec(text)?.[1];
    const payload = data ? (JSON.parse(data) as { errors?: { extensions?: { code?: string } }[] }) : {};
    return { status: 200, codes: (payload.errors ?? []).map((e) => String(e.extensions?.code ?? "")) };
  } else {
    response = await fetch(`${api.service.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", ...authorization },
      body: JSON.stringify({ query }),
    });
  }
  const body = (await response.json().catch(() => ({}))) as { errors?: { extensions?: { code?: string } }[] };
  return { status: response.status, codes: (body.errors ?? []).map((e) => String(e.extensions?.code ?? "")) };
}

describe("access rules", () => {
  it("name every root field of the schema, and no field that is not there", () => {
    for (const [rootType, type] of ROOTS) {
      const fields = Object.keys(type.getFields()).sort();
      expect(Object.keys(FIELD_RULES[rootType]).sort(), rootType).toEqual(fields);
    }
  });

  it("refuse to build a schema with a root field that has no rule", () => {
    const extra = buildSchema("type Query { me: String, somethingNew: String }");
    expect(() => withAccessRules(extra)).toThrow(MissingAccessRuleError);
    expect(() => withAccessRules(extra)).toThrow(/Query\.somethingNew/);
  });
});

for (const backend of testBackends()) {
  describe(`role × scope matrix over HTTP (${backend.name})`, () => {
    let db: Database;
    let api: TestService;
    const keys = new Map<string, string>();
    let mutationCalls = 0;
    let refusedMutationCalls = 0;

    beforeAll(async () => {
      db = await backend.open();
      api = await startTestService(db, { importLibraryOnStart: false, runWorker: false });
      for (const role of ROLES) for (const scopes of SCOPE_SETS) keys.set(`${role}/${scopes.join("+")}`, await api.createKey(role, scopes));
    }, 120_000);
    afterAll(async () => {
      await api?.close();
      await db?.close();
    });

    for (const [rootType, type] of ROOTS) {
      for (const field of Object.values(type.getFields())) {
        it(`${rootType}.${field.name}`, async () => {
          const rule = FIELD_RULES[rootType][field.name]!;
          const anonymous = await call(api, null, rootType, field);
          expect(anonymous.status, "anonymous").toBe(401);
          for (const role of ROLES) {
            for (const scopes of SCOPE_SETS) {
              const key = keys.get(`${role}/${scopes.join("+")}`)!;
              const outcome = await call(api, key, rootType, field);
              const allowed = hasRole({ role } as never, rule.role) && (!rule.domain || scopes.includes(rule.domain));
              const label = `${role} with ${scopes.join("+")}`;
              expect(outcome.codes, label).not.toContain("UNAUTHENTICATED");
              if (allowed) expect(outcome.codes, label).not.toContain("FORBIDDEN");
              else expect(outcome.codes, label).toContain("FORBIDDEN");
              if (rootType === "Mutation") {
                mutationCalls += 1;
                if (!allowed) refusedMutationCalls += 1;
              }
            }
          }
        }, 60_000);
      }
    }

    it("audited every mutation call, allowed or refused, once", async () => {
      const entries = await db.prisma.auditEntry.findMany({ where: { kind: "mutation" } });
      expect(mutationCalls).toBe(Object.keys(FIELD_RULES.Mutation).length * ROLES.length * SCOPE_SETS.length);
      expect(entries).toHaveLength(mutationCalls);
      expect(entries.filter((e) => e.outcome === "FORBIDDEN")).toHaveLength(refusedMutationCalls);
      expect(entries.every((e) => e.keyId !== null && e.clientAddress !== null)).toBe(true);
      // and the log cannot be rewritten
      await expect(db.prisma.auditEntry.deleteMany({})).rejects.toThrow(/append-only/);
      await expect(db.prisma.auditEntry.updateMany({ data: { outcome: "OK" } })).rejects.toThrow(/append-only/);
    });
  });
}
