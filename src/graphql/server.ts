import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { GraphQLError } from "graphql";
import { createGraphQLError, createYoga, maskError, type YogaServerInstance } from "graphql-yoga";
import { currentCaller } from "../access/index.ts";
import { requestBodyLimit } from "../config.ts";
import type { GraphQLContext, Services } from "./context.ts";
import { withEmptySelectsAllowed } from "./builder.ts";
import { schema } from "./schema/index.ts";

export type GraphQLServer = YogaServerInstance<Record<string, unknown>, GraphQLContext>;

/**
 * Headers that mark a request as sent by a GraphQL client rather than by an HTML form: one of them must be
 * present (any value) on every request a browser could send cross-site without a CORS preflight — GET,
 * application/x-www-form-urlencoded, multipart/form-data (uploads) and text/plain. JSON POSTs need none.
 * Apollo Server's names (what Apollo's docs tell apollo-upload-client users to set) and graphql-yoga's.
 */
export const CSRF_HEADERS = ["apollo-require-preflight", "x-apollo-operation-name", "x-graphql-yoga-csrf"] as const;

/** The GraphQL endpoint: schema, depth/cost/token limits, masked unexpected errors, GraphiQL. */
export function createGraphQLServer(services: Services): GraphQLServer {
  const { config } = services;
  const db = { ...services.db, prisma: withEmptySelectsAllowed(services.db.prisma) };
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: { title: "RareForge", defaultQuery: DEFAULT_QUERY },
    logging: false,
    // Unexpected errors reach the client as "Unexpected error."; expected ones are typed results.
    maskedErrors: { maskError: maskWithoutOriginalError },
    // Browsers may call from the configured origins only; any other origin gets no CORS header at all.
    cors: (request) => {
      const origin = request.headers.get("origin");
      return origin !== null && config.corsOrigins.includes(origin)
        ? { origin: config.corsOrigins, credentials: false, methods: ["GET", "POST"], allowedHeaders: ["content-type", "accept", "authorization", ...CSRF_HEADERS] }
        : false;
    },
    // The HTTP layer (app.ts) refuses bodies over RAREFORGE_MAX_BODY_BYTES, or that plus RAREFORGE_MAX_UPLOAD_BYTES
    // for multipart; yoga's own 25 MB default must not cut in first, or an upload over the configured limit
    // would never reach the upload service, which answers it with a typed TOO_LARGE.
    maxRequestBodySize: requestBodyLimit(config, true),
    // app.ts runs each request as its caller (access/caller.ts)
    context: () => ({ ...services, db, caller: currentCaller() }),
    plugins: [
      useCSRFPrevention({ requestHeaders: [...CSRF_HEADERS] }),
      maxDepthPlugin({ n: config.maxQueryDepth, flattenFragments: true }),
      costLimitPlugin({ maxCost: config.maxQueryCost }),
      maxTokensPlugin({ n: 2000 }),
    ],
  });
}

/**
 * yoga's masking, without the `originalError` extension: yoga puts the parser's message there for bodies
 * that are not JSON, and that message quotes the body. Clients get the fixed message only.
 */
function maskWithoutOriginalError(error: unknown, message: string, isDev?: boolean): Error {
  const masked = maskError(error, message, isDev);
  if (!(masked instanceof GraphQLError) || masked.extensions["originalError"] === undefined) return masked;
  const { originalError: _detail, ...extensions } = masked.extensions;
  return createGraphQLError(masked.message, {
    nodes: masked.nodes,
    source: masked.source,
    positions: masked.positions,
    path: masked.path,
    originalError: masked.originalError,
    extensions,
  });
}

export const DEFAULT_QUERY = /* GraphQL */ `# The scenario library
query Scenarios {
  scenarios(first: 50) {
    totalCount
    edges { node { id name domain tags modelName latestVersion } }
  }
}
`;
