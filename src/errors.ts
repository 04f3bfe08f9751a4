// Expected failures, as typed errors. GraphQL returns each as a member of a result union (errors plugin);
// anything else is an unexpected error and is masked by the server.

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `parameters.weather.kind`. */
  path: string;
  message: string;
}

/** Base of every expected failure. */
export class DomainError extends Error {
  override name = "DomainError";
}

export class ValidationError extends DomainError {
  override name = "ValidationError";
  constructor(
    readonly issues: FieldIssue[],
    summary = "invalid input",
  ) {
    super(`${summary}: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
  }
}

export class NotFoundError extends DomainError {
  override name = "NotFoundError";
  constructor(
    readonly resource: string,
    readonly key: string,
  ) {
    super(`${resource} ${key} not found`);
  }
}

export class AlreadyExistsError extends DomainError {
  override name = "AlreadyExistsError";
  constructor(
    readonly resource: string,
    readonly key: string,
  ) {
    super(`${resource} ${key} already exists`);
  }
}

export class VersionConflictError extends DomainError {
  override name = "VersionConflictError";
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`version conflict: expected version ${expectedVersion}, but the latest is ${actualVersion}`);
  }
}

export class ArchivedError extends DomainError {
  override name = "ArchivedError";
  constructor(
    readonly resource: string,
    readonly key: string,
  ) {
    super(`${resource} ${key} is archived`);
  }
}
