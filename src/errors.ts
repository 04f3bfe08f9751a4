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

/** A failure about one named resource (a scenario, a job…). */
abstract class ResourceError extends DomainError {
  constructor(
    readonly resource: string,
    readonly key: string,
    predicate: string,
  ) {
    super(`${resource} ${key} ${predicate}`);
  }
}

export class NotFoundError extends ResourceError {
  override name = "NotFoundError";
  constructor(resource: string, key: string) {
    super(resource, key, "not found");
  }
}

export class AlreadyExistsError extends ResourceError {
  override name = "AlreadyExistsError";
  constructor(resource: string, key: string) {
    super(resource, key, "already exists");
  }
}

export class ArchivedError extends ResourceError {
  override name = "ArchivedError";
  constructor(resource: string, key: string) {
    super(resource, key, "is archived");
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

