// bench/search/nominal.ts: the nominal failure rate from cross-entropy search samples (importance sampling,
// src/search/nominal.ts) against direct Monte Carlo, on the procedural simulator (training/procedural/road.py
// via bench/search/procedural.py) with the shipped road-detector and the realism gate on (default thresholds),
// scenario `road-hazards-weak-conditions` (bench/search/run.ts's default, `wide`).
//
//   nice -n 5 node --import tsx bench/search/nominal.ts [--seeds 10] [--budget 512] [--direct 16384] [--threads 1]
//
// For each seed 1..N: a CEM search (search defaults) of `budget` samples, its raw failure rate and its nominal
// estimate with the 95 % interval. Once: the direct rate from `direct` draws of the scenario's own distribution
// (drawParameters, seed 1000, its own render noise), with its Clopper-Pearson interval. Coverage: the seeds whose
// interval holds the direct rate. Savings at equal width: the direct draws whose Wilson interval at the direct
// rate is as wide as the seed's, over the search's budget (the search's samples serve both purposes).
// Writes bench/search/results-nominal-procedural-gate-on-budget<b>-seeds<n>.json and prints a Markdown table.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { clopperPearson, findCriticPackage, loadCritic, loadDetector, scoreImages, type ScoringItem } from "../../src/detection/index.ts";
import type { DecodedImage } from "../../src/imaging/index.ts";
import { deriveLabels, loadModelPackage, type ScenarioParameters } from "../../src/models/index.ts";
import { drawParameters, validateScenarioSpec, type DrawnParameters } from "../../src/scenarios/index.ts";
import { crossEntropySearch, nominalFailureRate, SEARCH_DEFAULTS, searchSpaceFromScenario, wilsonInterval, type EvaluateBatch, type WeightedSample } from "../../src/search/index.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number`);
  return value;
};
const seeds = option("seeds", 10);
const budget = option("budget", 512);
const directCount = option("direct", 16384);
const threads = option("threads", 1);
const DIRECT_SEED = 1000;

// the `wide` scenario of bench/search/run.ts
const SCENARIO = validateScenarioSpec({
  name: "road-hazards-weak-conditions",
  domain: "automotive",
  model: "road-hazards",
  parameters: {
    hazard: { kind: "choice", values: ["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"] },
    weather: { kind: "choice", values: ["clear", "rain", "fog", "snow"] },
    timeOfDay: { kind: "choice", values: ["day", "dusk", "night"] },
    hazardCx: { kind: "uniform", min: 0.2, max: 0.8 },
    hazardCy: { kind: "uniform", min: 0.5, max: 0.75 },
    hazardW: { kind: "uniform", min: 0.03, max: 0.3 },
    hazardH: { kind: "uniform", min: 0.03, max: 0.3 },
  },
  expectations: [{ classFrom: "hazard" }],
});

const model = loadModelPackage(path.join(ROOT, "models/road-hazards"));
const detector = await loadDetector(path.join(ROOT, "models/road-detector"), { intraOpThreads: threads });
const criticDir = findCriticPackage(path.join(ROOT, "models"), "road-hazards");
if (!criticDir) throw new Error("no critic package for road-hazards under models/");
const critic = await loadCritic(criticDir, { intraOpThreads: threads });
const gate = { enabled: true, thresholds: {} };

/** Procedural renders of a batch (scene details from (seed, index)), gated, detected and scored: null = not validly scored. */
async function score(batch: readonly DrawnParameters[], seed: number, firstIndex: number): Promise<Array<{ failed: boolean; confidence: number | null } | null>> {
  const requests = batch.map((parameters, k) => ({ seed, index: firstIndex + k, parameters }));
  const result = spawnSync("/usr/bin/python3", [path.join(ROOT, "bench/search/procedural.py")], { input: JSON.stringify(requests), maxBuffer: 1 << 30 });
  const { width, height, channels } = model.manifest.image;
  const plane = width * height * channels;
  if (result.status !== 0 || result.stdout.length !== plane * batch.length) throw new Error(`procedural renderer failed: ${result.stderr?.toString() ?? result.error}`);
  const items: ScoringItem[] = batch.map((parameters, k) => {
    const data = new Float32Array(plane);
    for (let j = 0; j < plane; j++) data[j] = (result.stdout[k * plane + j] as number) / 255;
    const image: DecodedImage = { width, height, channels: 3, data, bitDepth: 8 };
    return { image, intended: deriveLabels(model.manifest, parameters as ScenarioParameters).boxes, parameters: parameters as ScenarioParameters };
  });
  const verdicts = await scoreImages(detector, critic, gate, items);
  return verdicts.map((v) => (v.outcome === "INVALID" ? null : { failed: v.outcome === "MISS" || v.outcome === "WRONG_CLASS", confidence: v.confidence }));
}

// 1. the reference: direct Monte Carlo from the scenario's own distribution (kept in its own file: it does not
//    depend on the searches, and it is most of the run's time)
const directFile = new URL(`./results-nominal-direct-procedural-gate-on-seed${DIRECT_SEED}-n${directCount}.json`, import.meta.url);
const started = performance.now();
let directValid = 0;
let directFailures = 0;
if (existsSync(directFile)) ({ valid: directValid, failures: directFailures } = JSON.parse(readFileSync(directFile, "utf8")) as { valid: number; failures: number });
else {
  for (let start = 0; start < directCount; start += 256) {
    const batch = Array.from({ length: Math.min(256, directCount - start) }, (_, k) => drawParameters(SCENARIO, DIRECT_SEED, start + k));
    for (const outcome of await score(batch, DIRECT_SEED, start)) {
      if (outcome === null) continue;
      directValid++;
      if (outcome.failed) directFailures++;
    }
    process.stderr.write(`direct: ${start + batch.length} drawn, ${directValid} valid, ${directFailures} failures\n`);
  }
  writeFileSync(directFile, `${JSON.stringify({ drawn: directCount, valid: directValid, failures: directFailures, seed: DIRECT_SEED, date: new Date().toISOString() }, null, 2)}\n`);
}
const direct = clopperPearson(directFailures, directValid);
const validShare = directValid / directCount;
const directSeconds = (performance.now() - started) / 1000;

/** Direct draws (valid ones over the valid share) whose 95 % Wilson interval at the direct rate is `width` wide. */
function directDrawsForWidth(width: number): number {
  let [lo, hi] = [1, 1e9];
  while (hi - lo > 1) {
    const n = Math.floor((lo + hi) / 2);
    const w = wilsonInterval(direct.rate, n, 0.95);
    if (w.upper - w.lower > width) lo = n;
    else hi = n;
  }
  return hi / validShare;
}

// 2. one CEM search per seed, and its nominal estimate
const space = searchSpaceFromScenario(SCENARIO);
const rows = [];
for (let seed = 1; seed <= seeds; seed++) {
  const samples: WeightedSample[] = [];
  let next = 0;
  const evaluate: EvaluateBatch = async (batch) => {
    const outcomes = await score(batch, seed, next);
    batch.forEach((parameters, k) => samples.push({ parameters, iteration: Math.floor((next + k) / SEARCH_DEFAULTS.batchSize), failed: outcomes[k]?.failed ?? null }));
    next += batch.length;
    return outcomes.map((o) => o ?? { failed: false, confidence: null });
  };
  const t0 = performance.now();
  const result = await crossEntropySearch(space, evaluate, { budget, seed });
  const valid = samples.filter((s) => s.failed !== null);
  const raw = clopperPearson(valid.filter((s) => s.failed).length, valid.length);
  const nominal = nominalFailureRate(SCENARIO, space, samples, result.iterations.map((i) => ({ proposal: i.proposal, n: i.n })))!;
  const covers = nominal.lower <= direct.rate && direct.rate <= nominal.upper;
  const equalWidthDraws = directDrawsForWidth(nominal.upper - nominal.lower);
  rows.push({ seed, valid: valid.length, raw, nominal, covers, equalWidthDirectDraws: Math.round(equalWidthDraws), savings: equalWidthDraws / budget, seconds: (performance.now() - t0) / 1000 });
  process.stderr.write(`seed ${seed}: raw ${raw.rate.toFixed(3)}, nominal ${nominal.estimate.toFixed(3)} [${nominal.lower.toFixed(3)}, ${nominal.upper.toFixed(3)}], n_eff ${nominal.effectiveSampleSize.toFixed(0)}, covers ${covers}\n`);
}
await detector.dispose();
await critic.dispose();

const covered = rows.filter((r) => r.covers).length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const output = {
  command: `nice -n 5 node --import tsx bench/search/nominal.ts --seeds ${seeds} --budget ${budget} --direct ${directCount} --threads ${threads}`,
  date: new Date().toISOString(),
  settings: { simulator: "procedural (training/procedural/road.py)", scenario: SCENARIO.name, realismGate: "on, default thresholds", budget, cem: SEARCH_DEFAULTS, detector: `${detector.name} ${detector.version}`, directSeed: DIRECT_SEED },
  direct: { drawn: directCount, valid: directValid, failures: directFailures, rate: direct, validShare, seconds: directSeconds },
  coverage: { covered, of: rows.length },
  medianSavings: median(rows.map((r) => r.savings)),
  rows,
  loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
};
writeFileSync(new URL(`./results-nominal-procedural-gate-on-budget${budget}-seeds${seeds}.json`, import.meta.url), `${JSON.stringify(output, null, 2)}\n`);
const pct = (x: number) => (x * 100).toFixed(1);
console.log(`direct Monte Carlo: ${directFailures} failures / ${directValid} valid of ${directCount} drawn: ${pct(direct.rate)} % [${pct(direct.lower)}, ${pct(direct.upper)}]`);
console.log("| seed | valid | raw CEM rate [95 % CI] | nominal estimate [95 % CI] | n_eff | covers direct | direct draws at equal width | savings |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.seed} | ${r.valid} | ${pct(r.raw.rate)} % [${pct(r.raw.lower)}, ${pct(r.raw.upper)}] | ${pct(r.nominal.estimate)} % [${pct(r.nominal.lower)}, ${pct(r.nominal.upper)}] | ${r.nominal.effectiveSampleSize.toFixed(0)} | ${r.covers ? "yes" : "no"} | ${r.equalWidthDirectDraws} | ${r.savings.toFixed(2)}x |`,
  );
console.log(`coverage ${covered} of ${rows.length}; median savings ${output.medianSavings.toFixed(2)}x`);
