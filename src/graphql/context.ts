import type { Caller } from "../access/index.ts";
import type { Services } from "../services.ts";

/** What every resolver receives: the domain services of the process (src/services.ts) and who is asking. */
export type GraphQLContext = Services & {
  /** The authenticated caller; undefined only for the GraphiQL page, whose every field is then refused. */
  caller: Caller | undefined;
};
export type { Services };
