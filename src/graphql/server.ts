import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { GraphQLContext, Services } from "./context.ts";
import { schema } from "./schema/index.ts";

export type GraphQLServer = YogaServerInstance<Record<string, unknown>, GraphQLContext>;

/** The GraphQL endpoint: schema, depth/cost/token limits, masked unexpected errors, GraphiQL. */
export function createGraphQLServer(services: Services): GraphQLServer {
  const { config } = services;
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    graphiql: { title: "RareForge", defaultQuery: DEFAULT_QUERY },
    logging: false,
    // Unexpected errors reach the client as "Unexpected error."; expected ones are typed results.
    maskedErrors: true,
    context: () => ({ ...services }),
    plugins: [
      maxDepthPlugin({ n: config.maxQueryDepth, flattenFragments: true }),
      costLimitPlugin({ maxCost: config.maxQueryCost }),
      maxTokensPlugin({ n: 2000 }),
    ],
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
