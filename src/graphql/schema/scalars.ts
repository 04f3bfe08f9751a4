import { GraphQLError, Kind, type ValueNode } from "graphql";
import { builder } from "../builder.ts";

function literalToJson(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(literalToJson);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value)]));
    default:
      throw new GraphQLError("JSON literals cannot contain variables inline; pass the whole value as a variable");
  }
}

builder.scalarType("JSON", {
  description: "Any JSON value (scenario specifications, drawn parameters, provenance records).",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node) => literalToJson(node),
});

builder.scalarType("DateTime", {
  description: "An ISO-8601 timestamp.",
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError(`not an ISO-8601 timestamp: ${String(value)}`);
    return date;
  },
});
