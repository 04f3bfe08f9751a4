import type { Services } from "../services.ts";

/** What every resolver receives: the domain services of the process (src/services.ts). */
export type GraphQLContext = Services;
export type { Services };
