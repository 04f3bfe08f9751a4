// The condition grid the int8 work calibrates on and judges with: every combination of a model's categorical
// fields (road-hazards: hazard × weather × timeOfDay = 84 cells; brain-mri: pathology = 4 cells), `perCell` draws
// each. The object's geometry is drawn inside the manifest's `plausible` label geometry; other scalars
// uniformly in their range. Draws come from uniformAt(seed, index, field), so a grid is the same on every run.
import type { ModelManifest, ScenarioParameters } from "../../src/models/index.ts";
import { uniformAt } from "../../src/scenarios/index.ts";

export interface CellSample {
  /** "pedestrian|rain|night": the cell's categorical values, in field order. */
  readonly cell: string;
  readonly parameters: ScenarioParameters;
}

const between = (u: number, [lo, hi]: readonly [number, number]) => lo + u * (hi - lo);

export function cellGrid(manifest: ModelManifest, perCell: number, seed: number): CellSample[] {
  const categorical = manifest.condition.fields.flatMap((f) => (f.kind === "categorical" ? [f] : []));
  let cells: Record<string, string>[] = [{}];
  for (const field of categorical) cells = cells.flatMap((cell) => field.values.map((value) => ({ ...cell, [field.name]: value })));
  const rule = manifest.labels[0];
  const grid: CellSample[] = [];
  for (const cell of cells) {
    for (let k = 0; k < perCell; k++) {
      const index = grid.length;
      const u = (name: string) => uniformAt(seed, index, name);
      const parameters: Record<string, string | number> = { ...cell };
      for (const field of manifest.condition.fields) if (field.kind === "scalar") parameters[field.name] = between(u(field.name), field.range);
      const cls = rule ? cell[rule.class] : undefined;
      if (rule?.kind === "box" && cls && rule.plausible?.[cls]) {
        // height in its plausible range, width from a plausible aspect, clipped to the plausible width
        const box = rule.plausible[cls];
        const h = between(u("h"), box.h);
        const w = Math.min(box.w[1], Math.max(box.w[0], h * between(u("aspect"), box.aspect)));
        parameters[rule.w] = w;
        parameters[rule.h] = h;
        parameters[rule.cx] = between(u("cx"), [w / 2, 1 - w / 2]);
        parameters[rule.cy] = between(u("cy"), [Math.max(h / 2, 0.5), 1 - h / 2]);
      } else if (rule?.kind === "circle" && cls && rule.plausible?.[cls]) {
        // radius in its plausible range, centre inside the ellipse shrunk by the radius
        const circle = rule.plausible[cls];
        const r = between(u("radius"), circle.radius);
        const angle = 2 * Math.PI * u("angle");
        const reach = Math.sqrt(u("reach"));
        parameters[rule.radius] = r;
        parameters[rule.cx] = circle.within.cx + reach * (circle.within.rx - r) * Math.cos(angle);
        parameters[rule.cy] = circle.within.cy + reach * (circle.within.ry - r) * Math.sin(angle);
      }
      grid.push({ cell: categorical.map((f) => cell[f.name]).join("|"), parameters });
    }
  }
  return grid;
}
