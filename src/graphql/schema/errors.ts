// Expected failures as GraphQL types: every one implements the `Error` interface, so clients can always
// ask `... on Error { message }` and add fragments for the details they care about.
import { AlreadyExistsError, ArchivedError, DomainError, NotFoundError, ValidationError, VersionConflictError, type FieldIssue } from "../../errors.ts";
import { builder } from "../builder.ts";

export const ErrorInterface = builder.interfaceRef<DomainError>("Error").implement({
  fields: (t) => ({ message: t.exposeString("message") }),
});

const FieldIssueRef = builder.objectRef<FieldIssue>("FieldIssue").implement({
  description: "One problem with one input field.",
  fields: (t) => ({
    path: t.exposeString("path", { description: "Dotted path of the field, e.g. parameters.weather.kind" }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ issues: t.field({ type: [FieldIssueRef], resolve: (e) => e.issues }) }),
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ resource: t.exposeString("resource"), key: t.exposeString("key") }),
});

builder.objectType(AlreadyExistsError, {
  name: "AlreadyExistsError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ resource: t.exposeString("resource"), key: t.exposeString("key") }),
});

builder.objectType(VersionConflictError, {
  name: "VersionConflictError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ expectedVersion: t.exposeInt("expectedVersion"), actualVersion: t.exposeInt("actualVersion") }),
});

builder.objectType(ArchivedError, {
  name: "ArchivedError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ resource: t.exposeString("resource"), key: t.exposeString("key") }),
});
