import { DomainError } from "../errors.ts";

/** Bad input to a suite computation (counts, p-values) or a run that cannot be evaluated as asked. */
export class SuiteInputError extends DomainError {
  override name = "SuiteInputError";
}

/** A suite run that could not complete (samples that failed to generate, a detector that cannot score). */
export class SuiteRunError extends DomainError {
  override name = "SuiteRunError";
}
