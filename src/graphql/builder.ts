// The one schema builder: plugins, scalars and the Prisma wiring. Domain schema files add fields to it.
import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import type { GraphQLContext } from "./context.ts";

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
    /** GraphQL multipart request spec upload (graphql-yoga parses it into a web File); input only. */
    File: { Input: File; Output: never };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ErrorsPlugin, PrismaPlugin, RelayPlugin],
  prisma: {
    // The client belongs to the running service (PGlite or PostgreSQL), so it comes from the context.
    client: (ctx) => ctx.db.prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === "production" ? null : "warn",
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
  },
  errors: {
    defaultTypes: [],
  },
});

builder.queryType({});
builder.mutationType({});

/** A stored file's URL for the caller: signed (short-lived, bound to the key's scopes) unless authentication is off. */
export function artifactUrl(ctx: GraphQLContext, sha256: string): string {
  return ctx.caller && ctx.config.auth ? ctx.artifactUrls.sign(sha256, ctx.caller) : `/artifacts/${sha256}`;
}

/**
 * The Prisma client resolvers get. @pothos/plugin-prisma 4.17 plans `select: {}` for a `prismaField` whose
 * errors-plugin result union is selected without its `data` (`archiveScenario(id) { __typename }`, or only
 * an error fragment), and Prisma refuses an empty select: the mutation had committed, yet the client got
 * "Unexpected error.". Here an empty select, at any depth, means what it says, no columns needed, and the
 * query takes the model's own columns (a relation under it: `true`).
 */
export function withEmptySelectsAllowed(prisma: PrismaClient): PrismaClient {
  const extended = prisma.$extends({
    query: {
      $allModels: {
        $allOperations({ args, query }) {
          return query(hasEmptySelect(args) ? (dropEmptySelects(args) as typeof args) : args);
        },
      },
    },
  });
  // A query-only extension keeps every model method's signature.
  return extended as unknown as PrismaClient;
}

type PrismaClient = GraphQLContext["db"]["prisma"];
type QueryArgs = { select?: Record<string, unknown>; include?: Record<string, unknown> } & Record<string, unknown>;

function dropEmptySelects(args: unknown): unknown {
  if (typeof args !== "object" || args === null) return args;
  const { select, include, ...rest } = args as QueryArgs;
  const nested = (map: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(map).map(([key, value]) => [key, typeof value === "object" && value !== null ? relationArgs(value) : value]));
  return {
    ...rest,
    ...(select && Object.keys(select).length > 0 ? { select: nested(select) } : {}),
    ...(include ? { include: nested(include) } : {}),
  };
}

/** A relation's arguments under select/include: an empty select becomes `true` (the relation's own columns). */
function relationArgs(value: object): unknown {
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "select" && isEmptyObject((value as QueryArgs).select)) return true;
  return dropEmptySelects(value);
}

function hasEmptySelect(args: unknown): boolean {
  if (typeof args !== "object" || args === null) return false;
  const { select, include } = args as QueryArgs;
  if (select && Object.keys(select).length === 0) return true;
  return [select, include].some((map) => map !== undefined && Object.values(map).some(hasEmptySelect));
}

const isEmptyObject = (value: unknown) => typeof value === "object" && value !== null && Object.keys(value).length === 0;
