// The GraphQL API: the yoga server over the domain services, and what its clients need to know.
export { createGraphQLServer, type GraphQLServer } from "./server.ts";
