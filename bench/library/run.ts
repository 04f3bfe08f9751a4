// bench/library: every scenario of the library (and the README's deer-on-bridge example) generated at its model's
// product defaults (the manifest's `defaults`: the sampler, steps and guidance a request that names none gets) and
// judged by the domain critic and the realism gate the product uses: per scenario the valid share (what the gate
// lets through) and the judged accuracy of each categorical field. What issue 17's "every library scenario ≥ 80 %
// valid samples at the defaults" is measured with.
//
//   node --import tsx bench/library/run.ts [--samples 64] [--seed 17] [--model road-hazards] [--out bench/library/results-<model>.json]
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findCriticPackage, loadCritic } from "../../src/detection/index.ts";
import { generateSamples, modelSamplingDefaults, openModelRuntime, parseSampler } from "../../src/diffusion/index.ts";
import { loadModelPackage, type ScenarioParameters } from "../../src/models/index.ts";
import { drawParameters, loadScenarioLibrary, scenarioSpecSchema, type ScenarioSpec } from "../../src/scenarios/index.ts";
import { categoricalFields, judgeSamples } from "../judge.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const samples = Number(option("samples", "64"));
const seed = Number(option("seed", "17"));
const only = option("model", "");
const out = option("out", join(root, `bench/library/results${only ? `-${only}` : ""}.json`));

/** The README's "A first mutation" scenario, as written there. */
const readmeExample = scenarioSpecSchema.parse({
  name: "deer-on-bridge-night",
  domain: "automotive",
  model: "road-hazards",
  description: "A deer on a bridge at night, in fog or clear air. (README, A first mutation)",
  tags: ["animal", "night"],
  parameters: {
    hazard: "animal",
    weather: { kind: "choice", values: ["clear", "fog"], weights: [1, 3] },
    timeOfDay: "night",
    hazardCx: { kind: "uniform", min: 0.4, max: 0.6 },
    hazardCy: { kind: "truncatedNormal", mean: 0.62, std: 0.03, min: 0.55, max: 0.7 },
    hazardW: { kind: "uniform", min: 0.1, max: 0.2 },
    hazardH: 0.15,
  },
  expectations: [{ class: "animal" }],
}) as ScenarioSpec;

const library = [...(await loadScenarioLibrary(join(root, "scenarios"))).map((entry) => entry.spec), readmeExample].filter((spec) => !only || spec.model === only);
const started = new Date().toISOString();
const loadBefore = loadavg();
const rows = [];
for (const modelName of [...new Set(library.map((spec) => spec.model))].sort()) {
  const model = loadModelPackage(join(root, "models", modelName));
  const criticDir = findCriticPackage(join(root, "models"), modelName);
  if (!criticDir) throw new Error(`no critic for ${modelName}`);
  const critic = await loadCritic(criticDir, { intraOpThreads: 1 });
  const runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: 1 });
  const defaults = modelSamplingDefaults(model.manifest);
  const categorical = categoricalFields(critic);
  for (const spec of library.filter((s) => s.model === modelName)) {
    const indices = Array.from({ length: samples }, (_, i) => i);
    const parameters = indices.map((i) => drawParameters(spec, seed, i) as ScenarioParameters);
    const made = await generateSamples({ model, runtime, sampler: parseSampler(defaults.sampler), steps: defaults.steps, guidance: defaults.guidance, seed, indices, parameters, batchSize: 8 });
    const correct = Object.fromEntries(categorical.map((f) => [f, 0]));
    let all = 0;
    let valid = 0;
    const reasons = new Map<string, number>();
    for (const { correct: right, verdict } of await judgeSamples(critic, made.map((s) => s.image.data), parameters as Record<string, string | number>[])) {
      for (const f of categorical) if (right[f]) correct[f]! += 1;
      if (categorical.every((f) => right[f])) all += 1;
      if (verdict.valid) valid += 1;
      else for (const reason of verdict.reasons) reasons.set(reason.field, (reasons.get(reason.field) ?? 0) + 1);
    }
    const row = {
      scenario: spec.name,
      model: `${model.manifest.name} ${model.manifest.version}`,
      critic: `${critic.manifest.name} ${critic.manifest.version}`,
      gate: critic.manifest.gate ? "calibrated (critic.json gate)" : "fixed thresholds (argmax rule)",
      settings: defaults,
      samples,
      validShare: valid / samples,
      accuracy: { ...Object.fromEntries(categorical.map((f) => [f, correct[f]! / samples])), all: all / samples } as Record<string, number>,
      refusedFor: Object.fromEntries([...reasons].sort((a, b) => b[1] - a[1])),
    };
    rows.push(row);
    console.log(`${spec.name.padEnd(40)} valid ${(100 * row.validShare).toFixed(1).padStart(5)} %  ${categorical.map((f) => `${f} ${(100 * row.accuracy[f]!).toFixed(1)} %`).join("  ")}  refused for ${JSON.stringify(row.refusedFor)}`);
  }
  await runtime.dispose();
  await critic.dispose();
}
writeFileSync(out, `${JSON.stringify({ command: `node --import tsx bench/library/run.ts ${process.argv.slice(2).join(" ")}`.trim(), started, finished: new Date().toISOString(), cpu: cpus()[0]?.model, loadBefore, loadAfter: loadavg(), seed, rows }, null, 2)}\n`);
console.log(`wrote ${out}`);
