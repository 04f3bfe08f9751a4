import { createHash } from "node:crypto";
import type { ScenarioSpec } from "./spec.ts";

/** JSON with object keys sorted at every level, so equal specs hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/** Identity of a spec's content: importing unchanged content creates no new version.
 * Parameter order matters to drawing (sweeps and Halton bases follow declaration order), so it is kept. */
export function canonicalSpecHash(spec: ScenarioSpec): string {
  const withOrder = { ...spec, parameterOrder: Object.keys(spec.parameters) };
  return createHash("sha256").update(canonicalJson(withOrder)).digest("hex");
}

/** sha256 of any JSON value's canonical form (object keys sorted): the identity of a definition's content. */
export function canonicalJsonHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}
