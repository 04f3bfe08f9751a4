// A scenario is checked against its model's condition layout when it is created: every condition field
// needs a parameter, no parameter may be unknown to the model, categorical values must be ones the model
// knows, and scalar distributions must stay inside the trained range.
import type { Distribution, ParameterValue, ScenarioSpec, SpecIssue } from "./spec.ts";

/** The part of a model manifest (docs/model-package.md) this check reads. */
export interface ConditionLayout {
  name: string;
  domain: string;
  condition: {
    fields: Array<
      | { name: string; kind: "categorical"; values: string[] }
      | { name: string; kind: "scalar"; range: [number, number] }
      | { name: string; kind: string; values?: string[]; range?: [number, number] }
    >;
  };
}

type Parameters = ScenarioSpec["parameters"];
type Bounds = [number, number];
/** Values of categorical parameters held fixed while reading a given parameter's cases, by parameter name. */
type Given = Record<string, ParameterValue>;

function valuesOf(d: Distribution): ParameterValue[] | null {
  switch (d.kind) {
    case "fixed":
      return [d.value];
    case "choice":
    case "sweep":
      return d.values;
    default:
      return null;
  }
}

/**
 * The distributions a parameter may draw from, each with the values held while it does: a given one's case for
 * the value held, else each of its cases with that case's value held (so two parameters given the same one
 * are read case by case, together).
 */
function alternatives(d: Distribution, given: Given): Array<[Distribution, Given]> {
  if (d.kind !== "given") return [[d, given]];
  const held = given[d.of];
  if (held !== undefined) {
    const picked = d.cases[String(held)];
    return picked ? [[picked, given]] : [];
  }
  return Object.entries(d.cases).map(([value, c]) => [c, { ...given, [d.of]: value }]);
}

const hull = (bounds: (Bounds | null)[]): Bounds | null =>
  bounds.some((b) => b === null) || bounds.length === 0
    ? null
    : [Math.min(...bounds.map((b) => (b as Bounds)[0])), Math.max(...bounds.map((b) => (b as Bounds)[1]))];

/** The smallest and largest value a numeric distribution can draw, or null when it draws no numbers. */
function boundsOf(d: Distribution, parameters: Parameters, given: Given = {}): Bounds | null {
  if (d.kind === "given") return hull(alternatives(d, given).map(([c, held]) => boundsOf(c, parameters, held)));
  if (d.kind === "scaled") {
    const base = parameters[d.of];
    const of = base && base.kind !== "scaled" ? boundsOf(base, parameters, given) : null;
    if (!of) return null;
    const corners = [of[0] * d.min, of[0] * d.max, of[1] * d.min, of[1] * d.max].map((c) => d.offset + c);
    return [Math.min(...corners), Math.max(...corners)];
  }
  const values = valuesOf(d);
  if (values) return values.every((v) => typeof v === "number") ? [Math.min(...(values as number[])), Math.max(...(values as number[]))] : null;
  if ("min" in d && "max" in d) return [d.min, d.max];
  return null;
}

/** A bound as people write it (a scaled range's product, 0.15000000000000002, reads 0.15). */
const tidy = (value: number) => Number(value.toPrecision(6));

export function checkScenarioAgainstModel(spec: ScenarioSpec, model: ConditionLayout): SpecIssue[] {
  const issues: SpecIssue[] = [];
  if (model.domain !== spec.domain)
    issues.push({ path: "model", message: `model "${model.name}" is for the ${model.domain} domain, not ${spec.domain}` });
  const fields = new Map(model.condition.fields.map((f) => [f.name, f]));
  for (const field of model.condition.fields) {
    if (!(field.name in spec.parameters))
      issues.push({ path: `parameters.${field.name}`, message: `missing: model "${model.name}" is conditioned on ${field.name}` });
  }
  for (const [name, distribution] of Object.entries(spec.parameters)) {
    const field = fields.get(name);
    const path = `parameters.${name}`;
    if (!field) {
      issues.push({ path, message: `unknown parameter for model "${model.name}"; its condition fields: ${[...fields.keys()].join(", ")}` });
      continue;
    }
    if (field.kind === "categorical" && field.values) {
      const values = valuesOf(distribution);
      if (!values) issues.push({ path, message: `${name} is categorical: use fixed, choice or sweep over ${field.values.join(", ")}` });
      else
        for (const value of values)
          if (!field.values.includes(String(value)))
            issues.push({ path, message: `"${value}" is not a value of ${name}; allowed: ${field.values.join(", ")}` });
    } else if (field.kind === "scalar" && field.range) {
      const bounds = boundsOf(distribution, spec.parameters);
      const [lo, hi] = field.range;
      if (!bounds) issues.push({ path, message: `${name} is a number in [${lo}, ${hi}]` });
      else if (bounds[0] < lo || bounds[1] > hi)
        issues.push({ path, message: `${name} must stay within the model's range [${lo}, ${hi}], got [${tidy(bounds[0])}, ${tidy(bounds[1])}]` });
    }
  }
  for (const [i, expectation] of spec.expectations.entries()) {
    if (expectation.classFrom === undefined) continue;
    const field = fields.get(expectation.classFrom);
    if (field && field.kind !== "categorical")
      issues.push({ path: `expectations.${i}.classFrom`, message: `${expectation.classFrom} is not a categorical field` });
  }
  return issues;
}
