import { DomainError } from "../errors.ts";

export { ExecutionProviderUnavailableError } from "../runtime/index.ts";

/** A sample cannot be regenerated from its record (model changed or missing, failed sample…). */
export class ReproductionUnavailableError extends DomainError {
  override name = "ReproductionUnavailableError";
}
