// The parameter space a failure search explores, taken from a scenario spec: categorical parameters
// (choice, sweep), continuous ranges (uniform, truncatedNormal, halton; integer rounded) and fixed values.
// A scaled parameter (value = offset + of × factor) is searched through its factor: the dimension carries
// `scaled`, the search draws the factor and materialise() turns it into the value the model is conditioned on.
import type { DrawnParameters, ParameterValue, ScenarioSpec } from "../scenarios/index.ts";
import { SearchInputError } from "./errors.ts";

export type SearchDimension =
  | { readonly kind: "categorical"; readonly name: string; readonly values: readonly ParameterValue[]; readonly scaled?: undefined }
  | {
      readonly kind: "continuous";
      readonly name: string;
      readonly min: number;
      readonly max: number;
      readonly integer: boolean;
      /** Set for a scaled parameter: the range is its factor's, the value is offset + `of` × factor. */
      readonly scaled?: Scaling;
    }
  | { readonly kind: "fixed"; readonly name: string; readonly value: ParameterValue; readonly scaled?: Scaling };

/** How a scaled parameter's value follows its base: offset + base × factor. */
export interface Scaling {
  readonly of: string;
  readonly offset: number;
}

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
      case "scaled": {
        const scaled = { of: d.of, offset: d.offset };
        return d.min === d.max ? { kind: "fixed", name, value: d.min, scaled } : { kind: "continuous", name, min: d.min, max: d.max, integer: false, scaled };
      }
    }
  });
  return { dimensions };
}

type Scalable = { readonly name: string; readonly scaled?: Scaling | undefined };

/** Parameter values from the search's coordinates: each scaled dimension's offset + factor × base. */
export function materialise(space: { readonly dimensions: readonly Scalable[] }, coordinates: DrawnParameters): DrawnParameters {
  const out: DrawnParameters = { ...coordinates };
  for (const { name, scaled } of space.dimensions)
    if (scaled) out[name] = scaled.offset + (coordinates[scaled.of] as number) * (coordinates[name] as number);
  return out;
}

/** A dimension's search coordinate from parameter values: the value itself, or the factor for a scaled one (null when its base is 0). */
export function coordinateOf({ name, scaled }: Scalable, parameters: DrawnParameters): ParameterValue | null {
  const value = parameters[name] as ParameterValue;
  if (!scaled) return value;
  const base = parameters[scaled.of] as number;
  return base === 0 ? null : ((value as number) - scaled.offset) / base;
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
