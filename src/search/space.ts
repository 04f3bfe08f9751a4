// The parameter space a failure search explores, taken from a scenario spec: categorical parameters
// (choice, sweep), continuous ranges (uniform, truncatedNormal, halton; integer rounded) and fixed values.
import type { ParameterValue, ScenarioSpec } from "../scenarios/spec.ts";
import { SearchInputError } from "./errors.ts";

export type SearchDimension =
  | { readonly kind: "categorical"; readonly name: string; readonly values: readonly ParameterValue[] }
  | { readonly kind: "continuous"; readonly name: string; readonly min: number; readonly max: number; readonly integer: boolean }
  | { readonly kind: "fixed"; readonly name: string; readonly value: ParameterValue };

export interface SearchSpace {
  readonly dimensions: readonly SearchDimension[];
}

export function searchSpaceFromScenario(spec: Pick<ScenarioSpec, "parameters">): SearchSpace {
  const dimensions: SearchDimension[] = Object.entries(spec.parameters).map(([name, d]): SearchDimension => {
    switch (d.kind) {
      case "fixed":
        return { kind: "fixed", name, value: d.value };
      case "choice":
      case "sweep":
        return d.values.length === 1 ? { kind: "fixed", name, value: d.values[0] as ParameterValue } : { kind: "categorical", name, values: [...d.values] };
      case "integer":
        return d.min === d.max ? { kind: "fixed", name, value: d.min } : { kind: "continuous", name, min: d.min, max: d.max, integer: true };
      case "uniform":
      case "truncatedNormal":
      case "halton":
        return d.min === d.max ? { kind: "fixed", name, value: d.min } : { kind: "continuous", name, min: d.min, max: d.max, integer: false };
    }
  });
  return { dimensions };
}

export function checkSpace(space: SearchSpace): void {
  if (!space.dimensions.some((d) => d.kind !== "fixed")) {
    throw new SearchInputError("empty-space", "the scenario has no varying parameter to search over (all are fixed)");
  }
  for (const d of space.dimensions) {
    if (d.kind === "continuous" && !(d.max > d.min)) throw new SearchInputError("empty-space", `${d.name}: range [${d.min}, ${d.max}] is empty`);
    if (d.kind === "categorical" && d.values.length === 0) throw new SearchInputError("empty-space", `${d.name}: no values`);
  }
}

/** Maps a unit-cube coordinate onto a dimension uniformly (categorical: equal cells; integer: equal cells per integer). */
export function uniformValue(dimension: Exclude<SearchDimension, { kind: "fixed" }>, u: number): ParameterValue {
  if (dimension.kind === "categorical") return dimension.values[Math.min(dimension.values.length - 1, Math.floor(u * dimension.values.length))] as ParameterValue;
  if (dimension.integer) return Math.min(dimension.max, dimension.min + Math.floor(u * (dimension.max - dimension.min + 1)));
  return dimension.min + u * (dimension.max - dimension.min);
}
