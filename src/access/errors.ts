import { DomainError } from "../errors.ts";
import { currentCaller, hasRole, type Role } from "./caller.ts";

/** The caller's role does not allow the operation (never used for data outside its domains: that is not found). */
export class ForbiddenError extends DomainError {
  override name = "ForbiddenError";
  constructor(
    readonly operation: string,
    readonly neededRole: Role | "owner",
    detail?: string,
  ) {
    super(detail ?? `${operation} needs the ${neededRole.toLowerCase()} role`);
  }
}

/** The work in progress may change what ownerKeyId owns: it is the owner's, or an admin's (or the machine's). */
export function requireOwnerOrAdmin(operation: string, ownerKeyId: string | null): void {
  const caller = currentCaller();
  if (!caller || caller.keyId === null || hasRole(caller, "ADMIN") || caller.keyId === ownerKeyId) return;
  throw new ForbiddenError(operation, "owner", `${operation}: it belongs to another key; only its owner or an admin may do this`);
}
