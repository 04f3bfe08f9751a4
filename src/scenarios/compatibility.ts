// A scenario is checked against its model's manifest when it is created: every condition field needs a
// parameter, no parameter may be unknown to the model, categorical values must be ones the model knows,
// scalar distributions must stay inside the trained range, and every class the scenario can draw must be
// asked for at a geometry the model declares plausible for it (a label rule's `plausible`: a box's size and
// aspect, a lesion's radius and position).
import type { LabelRule, PlausibleBox, PlausibleCircle } from "../models/index.ts";
import { backgroundParameters, drawableValues, type Distribution, type ParameterValue, type ScenarioSpec, type SpecIssue } from "./spec.ts";

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
  /** Label rules; those with `plausible` geometry are checked class by class. */
  labels?: LabelRule[];
  /** Whether the model takes a prompt (an Optimum export): only then may a scenario give its own prompt template. */
  textConditioned?: boolean;
}

type Parameters = ScenarioSpec["parameters"];
type Bounds = [number, number];
/** Values of categorical parameters a check holds fixed (the class it is checking), by parameter name. */
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

/** Whether two sets of held values agree wherever both hold one. */
const compatible = (a: Given, b: Given) => Object.entries(a).every(([name, value]) => !(name in b) || String(b[name]) === String(value));

const hull = (bounds: (Bounds | null)[]): Bounds | null =>
  bounds.some((b) => b === null) || bounds.length === 0
    ? null
    : [Math.min(...bounds.map((b) => (b as Bounds)[0])), Math.max(...bounds.map((b) => (b as Bounds)[1]))];

/** The smallest and largest value a numeric distribution can draw, or null when it draws no numbers. */
export function boundsOf(d: Distribution, parameters: Parameters, given: Given = {}): Bounds | null {
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
const span = ([lo, hi]: Bounds) => `${tidy(lo)}..${tidy(hi)}`;
/** Slack for the float error of a computed bound (0.02 / 0.1 is 0.19999999999999998): far below any range's meaning. */
const SLACK = 1e-9;
const inside = ([lo, hi]: Bounds, [min, max]: Bounds) => lo >= min - SLACK && hi <= max + SLACK;

export function checkScenarioAgainstModel(spec: ScenarioSpec, model: ConditionLayout): SpecIssue[] {
  const issues: SpecIssue[] = [];
  if (model.domain !== spec.domain)
    issues.push({ path: "model", message: `model "${model.name}" is for the ${model.domain} domain, not ${spec.domain}` });
  if (spec.prompt && !model.textConditioned)
    issues.push({ path: "prompt", message: `model "${model.name}" takes a condition vector, not a prompt: a prompt template needs a text-conditioned model (an Optimum export)` });
  const fields = new Map(model.condition.fields.map((f) => [f.name, f]));
  // With a background, the insertion sets the model's box fields from the drawn box or placement, whose
  // parameters are the scenario's own (not condition fields).
  const placed = spec.background ? new Set(Object.values(backgroundParameters(spec.background))) : new Set<string>();
  const setByInsertion = new Set(spec.background ? (model.labels ?? []).flatMap((rule) => (rule.kind === "box" ? [rule.cx, rule.cy, rule.w, rule.h] : [])) : []);
  for (const field of model.condition.fields) {
    if (!(field.name in spec.parameters) && !setByInsertion.has(field.name))
      issues.push({ path: `parameters.${field.name}`, message: `missing: model "${model.name}" is conditioned on ${field.name}` });
  }
  for (const [name, distribution] of Object.entries(spec.parameters)) {
    const field = fields.get(name);
    const path = `parameters.${name}`;
    if (setByInsertion.has(name)) {
      issues.push({ path, message: `${name} is set from the background's ${spec.background?.box ? "box" : "placement"}; leave it out` });
      continue;
    }
    if (placed.has(name)) {
      if (field) issues.push({ path, message: `${name} is a condition field of model "${model.name}"; the background's box or placement needs parameters of its own` });
      continue;
    }
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
  // a background's box is frame pixels: its plausibility is checked against the frames (the reference set's)
  if (issues.length === 0) for (const rule of model.labels ?? []) if (!(spec.background && rule.kind === "box")) issues.push(...plausibleGeometryIssues(spec, rule));
  return issues;
}

/**
 * For each class the scenario can draw (the class parameter's drawable values but absentWhen), the geometry it
 * asks for must lie inside what the model declares plausible for that class. Run once the layout fits, so every
 * field it reads is a parameter of the right kind.
 */
function plausibleGeometryIssues(spec: ScenarioSpec, rule: LabelRule): SpecIssue[] {
  const classDistribution = spec.parameters[rule.class];
  const classes = (classDistribution ? (drawableValues(classDistribution) ?? []) : []).map(String).filter((c) => !rule.absentWhen.includes(c));
  const issues: SpecIssue[] = [];
  for (const drawnClass of new Set(classes)) {
    const given = { [rule.class]: drawnClass };
    const who = `${rule.class} "${drawnClass}"`;
    if (rule.kind === "box") {
      const plausible = rule.plausible?.[drawnClass];
      if (plausible) issues.push(...boxIssues(spec.parameters, rule, plausible, given, who));
    } else {
      const plausible = rule.plausible?.[drawnClass];
      if (plausible) issues.push(...circleIssues(spec.parameters, rule, plausible, given, who));
    }
  }
  return issues;
}

function boxIssues(parameters: Parameters, rule: Extract<LabelRule, { kind: "box" }>, plausible: PlausibleBox, given: Given, who: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const w = boundsOf(parameters[rule.w] as Distribution, parameters, given);
  const h = boundsOf(parameters[rule.h] as Distribution, parameters, given);
  if (w && !inside(w, plausible.w))
    issues.push({ path: `parameters.${rule.w}`, message: `${who}: box width ${rule.w} ${span(w)} is outside the model's plausible ${span(plausible.w)}` });
  if (h && !inside(h, plausible.h))
    issues.push({ path: `parameters.${rule.h}`, message: `${who}: box height ${rule.h} ${span(h)} is outside the model's plausible ${span(plausible.h)}` });
  const aspect = aspectBounds(parameters, rule.w, rule.h, given);
  if (aspect && !inside(aspect, plausible.aspect))
    issues.push({ path: `parameters.${rule.w}`, message: `${who}: box aspect w/h ${span(aspect)} is outside the model's plausible ${span(plausible.aspect)}` });
  return issues;
}

function circleIssues(parameters: Parameters, rule: Extract<LabelRule, { kind: "circle" }>, plausible: PlausibleCircle, given: Given, who: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const radius = boundsOf(parameters[rule.radius] as Distribution, parameters, given);
  const x = boundsOf(parameters[rule.cx] as Distribution, parameters, given);
  const y = boundsOf(parameters[rule.cy] as Distribution, parameters, given);
  if (radius && !inside(radius, plausible.radius))
    issues.push({ path: `parameters.${rule.radius}`, message: `${who}: lesion radius ${rule.radius} ${span(radius)} is outside the model's plausible ${span(plausible.radius)}` });
  if (!radius || !x || !y) return issues;
  // The farthest centre with the largest radius is the worst case: the allowed ellipse shrinks as the radius grows.
  const { cx, cy, rx, ry } = plausible.within;
  const r = radius[1];
  const dx = Math.max(Math.abs(x[0] - cx), Math.abs(x[1] - cx));
  const dy = Math.max(Math.abs(y[0] - cy), Math.abs(y[1] - cy));
  if (r >= Math.min(rx, ry) || (dx / (rx - r)) ** 2 + (dy / (ry - r)) ** 2 > 1 + SLACK)
    issues.push({
      path: `parameters.${rule.cx}`,
      message:
        `${who}: lesion centre ${rule.cx} ${span(x)}, ${rule.cy} ${span(y)} with ${rule.radius} up to ${tidy(r)} reaches outside the model's plausible region ` +
        `(the centre within the ellipse about (${cx}, ${cy}) with half-axes ${rx} − radius, ${ry} − radius)`,
    });
  return issues;
}

/** A box dimension as the drawing makes it: offset + base × factor (a directly drawn one is its own base, × 1). */
interface Affine {
  offset: number;
  base: string;
  baseBounds: Bounds | null;
  factor: Bounds;
  /** The values held for this form (a given dimension's case). */
  held: Given;
}

function affineForms(name: string, parameters: Parameters, given: Given): Affine[] {
  return alternatives(parameters[name] as Distribution, given).map(([d, held]) =>
    d.kind === "scaled"
      ? { offset: d.offset, base: d.of, baseBounds: boundsOf(parameters[d.of] as Distribution, parameters, held), factor: [d.min, d.max], held }
      : { offset: 0, base: name, baseBounds: boundsOf(d, parameters, held), factor: [1, 1], held },
  );
}

/**
 * The smallest and largest w / h the scenario can draw. Each dimension is offset + base × factor; w / h is
 * monotone in each base and factor on its own (linear or linear-fractional), so its extremes lie at the corners
 * of their ranges, and a base that w and h share (h, when w is scaled of it) is one variable. Null when a
 * range is unknown or h can reach 0 (the height check reports that).
 */
function aspectBounds(parameters: Parameters, w: string, h: string, given: Given): Bounds | null {
  const results: Bounds[] = [];
  for (const wForm of affineForms(w, parameters, given))
    for (const hForm of affineForms(h, parameters, given)) {
      if (!compatible(wForm.held, hForm.held)) continue; // cases of different values are never drawn together
      // a shared base takes the directly drawn dimension's range (the one alternative it is drawn from)
      const direct = [wForm.base === w ? wForm : null, hForm.base === h ? hForm : null].filter((f) => f !== null);
      const ranges = new Map<string, Bounds | null>([wForm, hForm, ...direct].map((f) => [f.base, f.baseBounds]));
      if ([...ranges.values()].some((b) => b === null)) return null;
      const variables = [...(ranges as Map<string, Bounds>).entries(), ["w×", wForm.factor], ["h×", hForm.factor]] as [string, Bounds][];
      let lo = Infinity;
      let hi = -Infinity;
      for (let corner = 0; corner < 1 << variables.length; corner++) {
        const at = new Map(variables.map(([key, [a, b]], i) => [key, corner & (1 << i) ? b : a]));
        const value = (form: Affine, factorKey: string) => form.offset + (at.get(form.base) as number) * (at.get(factorKey) as number);
        const height = value(hForm, "h×");
        if (!(height > 0)) return null;
        const ratio = value(wForm, "w×") / height;
        lo = Math.min(lo, ratio);
        hi = Math.max(hi, ratio);
      }
      results.push([lo, hi]);
    }
  return hull(results);
}
