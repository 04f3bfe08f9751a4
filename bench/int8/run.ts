// fp32 vs int8 denoisers, in one run, per pair of packages (base and its QDQ int8 derivative):
//   1. fusion: the int8 graph as onnxruntime-node optimizes it ("all", as the runtime does): op counts
//      (QLinearConv vs Conv), read by training/quantize/quantize.py ops;
//   2. speed: images/s of DDIM 25 with the package's guidance, batch 8, 1 intra-op thread, fp32 and int8
//      alternating (the order flips every round, so drift on this shared 2-core machine hits both), load average
//      recorded around each run;
//   3. denoiser calls on fixed inputs (the base package's golden fixture inputs): int8 vs fp32 max / mean |Δ|;
//   4. judged quality: the same condition grid (training/quantize/cells.ts, every categorical cell × --per-cell,
//      seed 2202, not the calibration seed) sampled by both through generateSamples with the same seeds, judged
//      by the domain critic: accuracy per categorical field, paired difference, discordant pairs, and the final
//      image difference after the DDIM-25 trajectory.
//
//   npx tsx bench/int8/run.ts --rounds 5 --out bench/int8/results.json \
//     models/road-hazards:models/road-hazards-int8 models/brain-mri:models/brain-mri-int8
//   (per pair; --road-per-cell 4 --brain-per-cell 32 are the defaults: 336 and 128 samples)
import { execFileSync } from "node:child_process";
import { readdirSync, existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createScheduler, denoiseBatch, generateSamples, openConditionRuntime, SampleNoise, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { loadCritic } from "../../src/detection/critic.ts";
import { encodeCondition, loadModelPackage, type ModelPackage } from "../../src/models/index.ts";
import { createSession, onnxRuntimeVersion, type OnnxSession, type TensorInput } from "../../src/runtime/index.ts";
import { denoiserCallOutputs } from "../../test/models/golden.ts";
import { cellGrid } from "../../training/quantize/cells.ts";

const EVAL_SEED = 2202;
const BATCH = 8;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    out: { type: "string", default: "bench/int8/results.json" },
    "road-per-cell": { type: "string", default: "4" },
    "brain-per-cell": { type: "string", default: "32" },
    "skip-quality": { type: "boolean", default: false },
  },
});
if (positionals.length === 0) throw new Error("usage: run.ts <baseDir>:<int8Dir> ... [--rounds N] [--out file]");
const rounds = Number(values.rounds);
const load = () => loadavg().map((v) => Number(v.toFixed(2)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const round4 = (v: number) => Number(v.toPrecision(4));

function diff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.length };
}

/** Op counts of the graph as onnxruntime-node optimizes it for the CPU (graphOptimizationLevel "all", as the runtime). */
async function fusedOps(denoiserPath: string): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), "int8-fusion-"));
  try {
    const optimized = join(dir, "optimized.onnx");
    const session = await createSession(denoiserPath, { ep: "cpu", intraOpThreads: 1, optimizedModelPath: optimized });
    await session.dispose();
    return JSON.parse(execFileSync("/usr/bin/python3", ["training/quantize/quantize.py", "ops", optimized], { encoding: "utf8" })) as Record<string, number>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Seconds for one batch of 8 samples, DDIM 25 with the package's guidance, from the grid's first 8 conditions. */
async function timeBatch(runtime: ConditionRuntime, conditions: Float32Array, guidance: number): Promise<number> {
  const manifest = runtime.model.manifest;
  const scheduler = createScheduler("ddim", { schedule: manifest.denoiser.schedule, prediction: manifest.denoiser.prediction, eta: 0 });
  const started = performance.now();
  await denoiseBatch({ runtime, scheduler, steps: 25, guidance, conditions, noise: Array.from({ length: BATCH }, (_, b) => new SampleNoise(EVAL_SEED, b)) });
  return (performance.now() - started) / 1000;
}

interface FieldFigures {
  fp32: number;
  int8: number;
  /** int8 − fp32, in accuracy points (percent). */
  differencePoints: number;
  /** fp32 right and int8 wrong / fp32 wrong and int8 right. */
  onlyFp32Right: number;
  onlyInt8Right: number;
  /** The onlyFp32Right samples by what was asked and what the critic read in the int8 image ("fog as clear": n). */
  int8LostAs: Record<string, number>;
  /** Share of samples where the critic reads the same value from both images. */
  sameReading: number;
}

async function measurePair(baseDir: string, int8Dir: string) {
  const base = loadModelPackage(baseDir);
  const quantized = loadModelPackage(int8Dir);
  const manifest = base.manifest;
  const guidance = manifest.defaults.guidance ?? 3;
  const fp32 = await openConditionRuntime(base, { ep: "cpu", intraOpThreads: 1 });
  const int8 = await openConditionRuntime(quantized, { ep: "cpu", intraOpThreads: 1 });
  const name = manifest.name;
  const perCell = Number(name.startsWith("road") ? values["road-per-cell"] : values["brain-per-cell"]);
  const grid = cellGrid(manifest, perCell, EVAL_SEED);

  // 1. fusion
  const ops = await fusedOps(quantized.denoiserPath);
  const opsFp32 = await fusedOps(base.denoiserPath);
  console.log(`${name}: optimized int8 graph: QLinearConv ${ops.QLinearConv ?? 0}, Conv ${ops.Conv ?? 0} (fp32 graph: Conv ${(opsFp32.Conv ?? 0) + (opsFp32.FusedConv ?? 0)})`);

  // 2. speed, alternating
  const conditions = new Float32Array(BATCH * manifest.condition.width);
  grid.slice(0, BATCH).forEach((s, b) => conditions.set(encodeCondition(manifest, s.parameters), b * manifest.condition.width));
  await timeBatch(fp32, conditions, guidance); // warm-up, both
  await timeBatch(int8, conditions, guidance);
  const speed: { round: number; kind: "fp32" | "int8"; seconds: number; imagesPerSecond: number; loadBefore: number[]; loadAfter: number[] }[] = [];
  for (let r = 0; r < rounds; r++) {
    const order: ["fp32" | "int8", ConditionRuntime][] = r % 2 === 0 ? [["fp32", fp32], ["int8", int8]] : [["int8", int8], ["fp32", fp32]];
    for (const [kind, runtime] of order) {
      const loadBefore = load();
      const seconds = await timeBatch(runtime, conditions, guidance);
      speed.push({ round: r, kind, seconds: round4(seconds), imagesPerSecond: round4(BATCH / seconds), loadBefore, loadAfter: load() });
    }
  }
  const ips = (kind: string) => speed.filter((s) => s.kind === kind).map((s) => s.imagesPerSecond);
  // per round: int8 / fp32 of the adjacent pair
  const ratios = Array.from({ length: rounds }, (_, r) => {
    const f = speed.find((s) => s.round === r && s.kind === "fp32")!;
    const q = speed.find((s) => s.round === r && s.kind === "int8")!;
    return q.imagesPerSecond / f.imagesPerSecond;
  });
  const speedSummary = {
    fp32ImagesPerSecondMedian: round4(median(ips("fp32"))),
    int8ImagesPerSecondMedian: round4(median(ips("int8"))),
    ratioMedianOfRounds: round4(median(ratios)),
    ratiosPerRound: ratios.map(round4),
  };
  console.log(`${name}: fp32 ${speedSummary.fp32ImagesPerSecondMedian} img/s, int8 ${speedSummary.int8ImagesPerSecondMedian} img/s, ratio ${speedSummary.ratioMedianOfRounds} (rounds ${speedSummary.ratiosPerRound.join(", ")})`);

  // 3. denoiser calls on the base package's golden inputs
  const fixtureDir = join("test/fixtures", name);
  const fpCalls = await denoiserCallOutputs(fp32, fixtureDir);
  const qCalls = await denoiserCallOutputs(int8, fixtureDir);
  const calls = fpCalls.map((f, i) => {
    const d = diff(qCalls[i]!, f);
    return { max: round4(d.max), mean: round4(d.mean) };
  });
  console.log(`${name}: denoiser calls int8 vs fp32: ${calls.map((c) => `max ${c.max} mean ${c.mean}`).join("; ")}`);

  // 3b. denoiser calls on in-distribution inputs: what the fp32 sampler fed its denoiser at steps 1, 13 and 25 of
  // the timed batch (guided rows; the golden inputs above are pure noise even at t = 20.5 and t = 1)
  const captured: { step: number; timestep: number; feeds: Readonly<Record<string, TensorInput>> }[] = [];
  const capturing: OnnxSession & { calls: number } = Object.assign(Object.create(fp32.denoiser) as OnnxSession, {
    async run(feeds: Readonly<Record<string, TensorInput>>) {
      const step = capturing.calls++;
      if ([0, 12, 24].includes(step)) captured.push({ step: step + 1, timestep: Number(feeds[manifest.denoiser.inputs.timestep]!.data[0]), feeds });
      return fp32.denoiser.run(feeds);
    },
    calls: 0,
  });
  await timeBatch({ ...fp32, denoiser: capturing }, conditions, guidance);
  const trajectoryCalls = [];
  for (const { step, timestep, feeds } of captured) {
    const f = (await fp32.denoiser.run(feeds))[manifest.denoiser.output]!.data;
    const q = (await int8.denoiser.run(feeds))[manifest.denoiser.output]!.data;
    const d = diff(q, f);
    trajectoryCalls.push({ step, timestep: round4(timestep), rows: feeds[manifest.denoiser.inputs.sample]!.dims[0], max: round4(d.max), mean: round4(d.mean) });
  }
  console.log(`${name}: trajectory inputs int8 vs fp32: ${trajectoryCalls.map((c) => `step ${c.step} (t ${c.timestep}) max ${c.max} mean ${c.mean}`).join("; ")}`);

  // 4. judged quality, paired
  let quality: unknown = null;
  if (!values["skip-quality"]) {
    const criticDir = readdirSync("models")
      .map((d) => join("models", d))
      .find((d) => existsSync(join(d, "critic.json")) && JSON.parse(readFileSync(join(d, "critic.json"), "utf8")).model === name);
    if (!criticDir) throw new Error(`no critic package for ${name} under models/`);
    const critic = await loadCritic(criticDir, { ep: "cpu", intraOpThreads: 1 });
    const request = { sampler: "ddim" as const, steps: 25, guidance, eta: 0, seed: EVAL_SEED, indices: grid.map((_, i) => i), parameters: grid.map((s) => s.parameters), batchSize: BATCH };
    const started = performance.now();
    const fpSamples = await generateSamples({ ...request, model: base, runtime: fp32 });
    const fpSeconds = (performance.now() - started) / 1000;
    const qStarted = performance.now();
    const qSamples = await generateSamples({ ...request, model: quantized, runtime: int8 });
    const qSeconds = (performance.now() - qStarted) / 1000;
    const fpSeen = await critic.predict(fpSamples.map((s) => s.image.data));
    const qSeen = await critic.predict(qSamples.map((s) => s.image.data));
    await critic.dispose();
    const fields: Record<string, FieldFigures> = {};
    for (const field of critic.manifest.fields) {
      if (field.kind !== "categorical") continue;
      let a = 0, b = 0, onlyF = 0, onlyQ = 0, same = 0;
      const lostAs: Record<string, number> = {};
      grid.forEach((s, i) => {
        const want = s.parameters[field.name];
        const f = fpSeen[i]!.values[field.name] === want;
        const q = qSeen[i]!.values[field.name] === want;
        a += f ? 1 : 0;
        b += q ? 1 : 0;
        if (f && !q) {
          onlyF++;
          const key = `${String(want)} as ${String(qSeen[i]!.values[field.name])}`;
          lostAs[key] = (lostAs[key] ?? 0) + 1;
        }
        if (q && !f) onlyQ++;
        if (fpSeen[i]!.values[field.name] === qSeen[i]!.values[field.name]) same++;
      });
      const n = grid.length;
      fields[field.name] = { fp32: round4(a / n), int8: round4(b / n), differencePoints: round4((100 * (b - a)) / n), onlyFp32Right: onlyF, onlyInt8Right: onlyQ, int8LostAs: lostAs, sameReading: round4(same / n) };
      console.log(`${name}: ${field.name} fp32 ${(100 * a / n).toFixed(2)} % int8 ${(100 * b / n).toFixed(2)} % (Δ ${((100 * (b - a)) / n).toFixed(2)} points; only fp32 right ${onlyF}, only int8 right ${onlyQ}; same reading ${(100 * same / n).toFixed(1)} %)${onlyF ? ` lost: ${JSON.stringify(lostAs)}` : ""}`);
    }
    const images = fpSamples.map((s, i) => diff(qSamples[i]!.image.data, s.image.data));
    quality = {
      samples: grid.length,
      cells: new Set(grid.map((s) => s.cell)).size,
      perCell,
      seed: EVAL_SEED,
      sampler: "ddim",
      steps: 25,
      guidance,
      judge: critic.manifest.name,
      fields,
      meetsBar: Object.values(fields).every((f) => f.differencePoints >= -2),
      bar: "int8 accuracy within 2 points of fp32 (DDIM 25) on every categorical field the critic judges",
      finalImageDifference: {
        maxAbs: round4(Math.max(...images.map((d) => d.max))),
        meanAbs: round4(images.reduce((s, d) => s + d.mean, 0) / images.length),
        medianPerSampleMaxAbs: round4(median(images.map((d) => d.max))),
        valueRange: manifest.image.valueRange,
      },
      generationSeconds: { fp32: round4(fpSeconds), int8: round4(qSeconds) },
    };
  }
  await fp32.dispose();
  await int8.dispose();
  return {
    base: { dir: baseDir, name, version: manifest.version, denoiserSha256: base.fileHashes[manifest.denoiser.file] },
    int8: { dir: int8Dir, name: quantized.manifest.name, version: quantized.manifest.version, denoiserSha256: quantized.fileHashes[quantized.manifest.denoiser.file] },
    fusion: { int8OptimizedOps: ops, fp32OptimizedOps: opsFp32 },
    speed: { batch: BATCH, intraOpThreads: 1, steps: 25, guidance, rounds, summary: speedSummary, runs: speed },
    denoiserCalls: { inputs: `${fixtureDir}/golden.json (pure Gaussian samples at every timestep)`, calls },
    trajectoryCalls: { inputs: "the fp32 sampler's denoiser inputs at steps 1, 13, 25 of the timed batch (DDIM 25, guided: 16 rows)", calls: trajectoryCalls },
    quality,
  };
}

const startedAt = new Date().toISOString();
const loadAtStart = load();
const results = [];
for (const pair of positionals) {
  const [baseDir, int8Dir] = pair.split(":");
  if (!baseDir || !int8Dir) throw new Error(`expected <baseDir>:<int8Dir>, got ${pair}`);
  results.push(await measurePair(baseDir, int8Dir));
}
const report = {
  command: `npx tsx bench/int8/run.ts ${process.argv.slice(2).join(" ")}`,
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAtStart, loadAtEnd: load() },
  onnxruntime: onnxRuntimeVersion(),
  results,
};
writeFileSync(values.out!, JSON.stringify(report, null, 1) + "\n");
console.log(`wrote ${values.out}`);
