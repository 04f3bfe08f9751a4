import { DomainError } from "../errors.ts";

/** The request names an execution provider that no worker offers. */
export class ExecutionProviderUnavailableError extends DomainError {
  override name = "ExecutionProviderUnavailableError";
  constructor(
    readonly requested: string,
    readonly available: string[],
  ) {
    super(`no worker offers execution provider "${requested}"; available: ${available.join(", ")}`);
  }
}

/** A sample cannot be regenerated from its record (model changed or missing, failed sample…). */
export class ReproductionUnavailableError extends DomainError {
  override name = "ReproductionUnavailableError";
}
