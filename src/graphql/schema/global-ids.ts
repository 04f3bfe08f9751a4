// Relay global ids in arguments: the id of the expected type, or a NotFoundError naming that type (an id of
// another type finds nothing, as an unknown id does).
import { NotFoundError } from "../../errors.ts";

export const decodeGlobalId = (expected: string, globalId: { typename: string; id: string }) => {
  if (globalId.typename !== expected) throw new NotFoundError(expected.toLowerCase(), `${globalId.typename}:${globalId.id}`);
  return globalId.id;
};
