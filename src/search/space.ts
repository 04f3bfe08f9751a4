// The parameter space a failure search explores, taken from a scenario spec: categorical parameters
// (choice, sweep), continuous ranges (uniform, truncatedNormal, halton; integer rounded) and fixed values.
// A scaled parameter (value = offset + of × factor) is searched through its factor: the dimension carries
// `scaled`, the search draws the factor and materialise() turns it into the value the model is conditioned on.
// A given parameter (a range per value of another parameter) is searched through its position in the
// range of the case drawn, 0..1: the dimension carries `given`, and materialise() maps the position into the
// case's range (a failure region "at the small end of each class's range" is one region for every class).
import type { DrawnParameters, GivenCase, ParameterValue, ScenarioSpec } from "../scenarios/index.ts";
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
      /** Set for a given parameter: the range is 0..1, the position in the range of the case `of` picks. */
      readonly given?: Conditioning;
    }
  | { readonly kind: "fixed"; readonly name: string; readonly value: ParameterValue; readonly scaled?: Scaling };

/** How a scaled parameter's value follows its base: offset + base × factor. */
export interface Scaling {
  readonly of: string;
  readonly offset: number;
}

/** How a given parameter's value follows the value of `of`: each case's range (and scaling, for a scaled case). */
export interface Conditioning {
  readonly of: string;
  readonly cases: Readonly<Record<string, CaseRange>>;
}

export interface CaseRange {
  readonly min: number;
  readonly max: number;
  readonly scaled?: Scaling;
}

function caseRange(c: GivenCase): CaseRange {
  if (c.kind === "fixed") return { min: c.value, max: c.value };
  return c.kind === "scaled" ? { min: c.min, max: c.max, scaled: { of: c.of, offset: c.offset } } : { min: c.min, max: c.max };
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
      case "given": {
        const cases = Object.fromEntries(Object.entries(d.cases).map(([value, c]) => [value, caseRange(c)]));
        return { kind: "continuous", name, min: 0, max: 1, integer: false, given: { of: d.of, cases } };
      }
    }
  });
  return { dimensions };
}

type Scalable = { readonly name: string; readonly scaled?: Scaling | undefined; readonly given?: Conditioning | undefined };

/** The case a given dimension draws from for these parameters (the spec has one for each value `of` draws). */
function caseOf(given: Conditioning, name: string, parameters: DrawnParameters): CaseRange {
  const picked = given.cases[String(parameters[given.of])];
  if (!picked) throw new SearchInputError("invalid-setting", `${name}: no case for ${given.of} "${String(parameters[given.of])}"`);
  return picked;
}

/**
 * Parameter values from the search's coordinates: a given dimension's position mapped into its case's range,
 * then each scaled dimension's (or scaled case's) offset + factor × base.
 */
export function materialise(space: { readonly dimensions: readonly Scalable[] }, coordinates: DrawnParameters): DrawnParameters {
  const out: DrawnParameters = { ...coordinates };
  const factors = new Map<string, Scaling>();
  for (const { name, scaled, given } of space.dimensions) {
    if (scaled) factors.set(name, scaled);
    if (!given) continue;
    const range = caseOf(given, name, coordinates);
    out[name] = range.min + (coordinates[name] as number) * (range.max - range.min);
    if (range.scaled) factors.set(name, range.scaled);
  }
  for (const [name, scaling] of factors) out[name] = scaling.offset + (out[scaling.of] as number) * (out[name] as number);
  return out;
}

/**
 * A dimension's search coordinate from parameter values: the value itself, the factor for a scaled one, the
 * position in its case's range for a given one (null when that cannot be told: a base of 0, a one-value case).
 */
export function coordinateOf({ name, scaled, given }: Scalable, parameters: DrawnParameters): ParameterValue | null {
  const value = parameters[name] as ParameterValue;
  const factorOf = (scaling: Scaling | undefined) => {
    if (!scaling) return value as number;
    const base = parameters[scaling.of] as number;
    return base === 0 ? null : ((value as number) - scaling.offset) / base;
  };
  if (!given) return scaled ? factorOf(scaled) : value;
  const range = caseOf(given, name, parameters);
  const factor = factorOf(range.scaled);
  return factor === null || range.max === range.min ? null : (factor - range.min) / (range.max - range.min);
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

/** Log-density (log-mass for categorical and integer dimensions) of a coordinate under uniformValue's draws. */
export function uniformLogDensity(dimension: Exclude<SearchDimension, { kind: "fixed" }>, coordinate: ParameterValue): number {
  if (dimension.kind === "categorical") return Math.log(dimension.values.filter((v) => v === coordinate).length / dimension.values.length);
  if (dimension.integer) return -Math.log(dimension.max - dimension.min + 1);
  return -Math.log(dimension.max - dimension.min);
}
