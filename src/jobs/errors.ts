import { DomainError } from "../errors.ts";

/** The request names an execution provider that no worker offers (or, for work done in the API process, that it cannot load). */
export class ExecutionProviderUnavailableError extends DomainError {
  override name = "ExecutionProviderUnavailableError";
  constructor(
    readonly requested: string,
    readonly available: string[],
    reason = `no worker offers execution provider "${requested}"`,
  ) {
    super(`${reason}; available: ${available.join(", ")}`);
  }
}

/** A sample cannot be regenerated from its record (model changed or missing, failed sample…). */
export class ReproductionUnavailableError extends DomainError {
  override name = "ReproductionUnavailableError";
}
