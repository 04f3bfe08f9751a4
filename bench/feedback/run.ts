// bench/feedback: what a manifest's sampling-time feedback (docs/model-package.md "Feedback") costs. The same model
// package is run with its feedback and with it stripped from the manifest, in alternating rounds of the same requests
// (the brain scenarios of the library, drawn as a suite draws them), at the product defaults, one onnxruntime thread;
// CPU-seconds per sample of each, their ratio, and the meter sessions' share of the time.
//
//   node --import tsx bench/feedback/run.ts [--model brain-mri] [--per-scenario 8] [--rounds 3] [--seed 17] [--out bench/feedback/results-<model>.json]
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSamples, modelSamplingDefaults, openConditionRuntime, parseSampler, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { loadModelPackage, type ModelPackage, type ScenarioParameters } from "../../src/models/index.ts";
import { drawParameters, loadScenarioLibrary } from "../../src/scenarios/index.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const modelName = option("model", "brain-mri");
const perScenario = Number(option("per-scenario", "8"));
const rounds = Number(option("rounds", "3"));
const seed = Number(option("seed", "17"));
const out = option("out", join(root, `bench/feedback/results-${modelName}.json`));

const model = loadModelPackage(join(root, "models", modelName));
const held = model.manifest.condition.fields.filter((f) => f.kind === "scalar" && f.feedback).map((f) => f.name);
if (held.length === 0) throw new Error(`${modelName} has no feedback to measure`);
/** The same package with its feedback stripped from the manifest (the meter is then never opened). */
const plain: ModelPackage = {
  ...model,
  manifest: {
    ...model.manifest,
    condition: { ...model.manifest.condition, fields: model.manifest.condition.fields.map((f) => (f.kind === "scalar" ? { ...f, feedback: undefined } : f)) },
  },
};
const specs = (await loadScenarioLibrary(join(root, "scenarios"))).map((entry) => entry.spec).filter((spec) => spec.model === modelName);
const parameters = specs.flatMap((spec) => Array.from({ length: perScenario }, (_, i) => drawParameters(spec, seed, i) as ScenarioParameters));
const indices = parameters.map((_, i) => i);
const defaults = modelSamplingDefaults(model.manifest);

const runtimes: Record<string, ConditionRuntime> = {
  feedback: await openConditionRuntime(model, { ep: "cpu", intraOpThreads: 1 }),
  plain: await openConditionRuntime(plain, { ep: "cpu", intraOpThreads: 1 }),
};
const run = async (name: "feedback" | "plain") => {
  const runtime = runtimes[name]!;
  const meterBefore = [...runtime.meters.values()].reduce((sum, m) => sum + m.runMillis, 0);
  const cpu = process.cpuUsage();
  const wall = performance.now();
  await generateSamples({ model: runtime.model, runtime, sampler: parseSampler(defaults.sampler), steps: defaults.steps, guidance: defaults.guidance, seed, indices, parameters, batchSize: 8 });
  const used = process.cpuUsage(cpu);
  const meterMillis = [...runtime.meters.values()].reduce((sum, m) => sum + m.runMillis, 0) - meterBefore;
  return { cpuSecondsPerSample: (used.user + used.system) / 1e6 / parameters.length, wallSecondsPerSample: (performance.now() - wall) / 1000 / parameters.length, meterMillis };
};

await run("plain"); // warm-up: first-call allocations out of the timed rounds
await run("feedback");
const loadBefore = loadavg();
const measured: { round: number; feedback: Awaited<ReturnType<typeof run>>; plain: Awaited<ReturnType<typeof run>> }[] = [];
for (let round = 0; round < rounds; round++) {
  // alternate which goes first, so drift in the machine's load hits both alike
  const first = round % 2 === 0 ? "feedback" : "plain";
  const a = await run(first);
  const b = await run(first === "feedback" ? "plain" : "feedback");
  measured.push({ round, feedback: first === "feedback" ? a : b, plain: first === "feedback" ? b : a });
  console.log(`round ${round}: feedback ${(first === "feedback" ? a : b).cpuSecondsPerSample.toFixed(4)} s, plain ${(first === "feedback" ? b : a).cpuSecondsPerSample.toFixed(4)} s CPU per sample`);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const feedbackCpu = median(measured.map((m) => m.feedback.cpuSecondsPerSample));
const plainCpu = median(measured.map((m) => m.plain.cpuSecondsPerSample));
const summary = {
  command: `node --import tsx bench/feedback/run.ts --model ${modelName} --per-scenario ${perScenario} --rounds ${rounds} --seed ${seed}`,
  started: new Date().toISOString(),
  cpu: cpus()[0]?.model ?? "unknown",
  loadBefore,
  loadAfter: loadavg(),
  model: `${model.manifest.name} ${model.manifest.version}`,
  held,
  settings: defaults,
  samplesPerRound: parameters.length,
  scenarios: specs.map((s) => s.name),
  medianCpuSecondsPerSample: { feedback: feedbackCpu, plain: plainCpu },
  ratio: feedbackCpu / plainCpu,
  meterShareOfFeedbackCpu: median(measured.map((m) => m.feedback.meterMillis / 1000 / (m.feedback.cpuSecondsPerSample * parameters.length))),
  rounds: measured,
};
for (const runtime of Object.values(runtimes)) await runtime.dispose();
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`${modelName}: ${(summary.ratio).toFixed(3)}x the CPU-seconds per sample with feedback (${feedbackCpu.toFixed(4)} vs ${plainCpu.toFixed(4)}); meter sessions ${(100 * summary.meterShareOfFeedbackCpu).toFixed(1)} % of it; wrote ${out}`);
