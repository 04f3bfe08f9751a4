// Activation ranges for the int8 build, from real denoising trajectories: the product's own DDIM loop
// (denoiseBatch) runs on the calibration copy of the fp32 denoiser (quantize.py expose: every Conv's input and
// output is a graph output), with guidance (both the unconditional and the conditional rows; the conditional
// rows alone for a guidance-distilled denoiser, as it samples), over every
// condition cell of the model, and records each tensor's min/max and 0.01 / 99.99 percentiles.
//
//   /usr/bin/python3 training/quantize/quantize.py expose road-hazards /tmp/int8/road-calib.onnx
//   npx tsx training/quantize/calibrate.ts road-hazards /tmp/int8/road-calib.onnx training/quantize/road-hazards-ranges.json
//   (brain-mri likewise; options: --per-cell N (default: road 1, brain 8), --seed S (default 2201), --steps 25, --guidance G (default: the manifest's defaults.guidance))
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { denoiseBatch, SampleNoise, createScheduler, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { encodeCondition, loadModelPackage } from "../../src/models/index.ts";
import { createSession, type OnnxSession, type TensorInput, type TensorOutput } from "../../src/runtime/index.ts";
import { cellGrid } from "./cells.ts";

interface TensorStats {
  min: number;
  max: number;
  /** Per call, the 0.01 % and 99.99 % quantiles of a strided subsample; the lowest and highest over calls. */
  p0001: number;
  p9999: number;
}

const SUBSAMPLE = 1 << 16;

/** 0.01 % / 99.99 % quantiles of up to 65,536 evenly strided values (a full sort of 3 M values per call is too slow here). */
function tailQuantiles(data: Float32Array): [number, number] {
  const stride = Math.max(1, Math.floor(data.length / SUBSAMPLE));
  const picked = new Float32Array(Math.ceil(data.length / stride));
  for (let i = 0, j = 0; i < data.length; i += stride, j++) picked[j] = data[i] ?? 0;
  picked.sort();
  const at = (q: number) => picked[Math.min(picked.length - 1, Math.max(0, Math.round(q * (picked.length - 1))))] ?? 0;
  return [at(0.0001), at(0.9999)];
}

function record(stats: Map<string, TensorStats>, name: string, data: Float32Array) {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] ?? 0;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const [lo, hi] = tailQuantiles(data);
  const s = stats.get(name);
  if (!s) stats.set(name, { min, max, p0001: lo, p9999: hi });
  else {
    s.min = Math.min(s.min, min);
    s.max = Math.max(s.max, max);
    s.p0001 = Math.min(s.p0001, lo);
    s.p9999 = Math.max(s.p9999, hi);
  }
}

/** The calibration session behind the OnnxSession interface: records the watched tensors, returns what the pipeline reads. */
function watching(session: OnnxSession, watched: readonly string[], stats: Map<string, TensorStats>): OnnxSession & { calls: number } {
  const watcher = Object.assign(Object.create(session) as OnnxSession, {
    calls: 0,
    async run(feeds: Readonly<Record<string, TensorInput>>): Promise<Record<string, TensorOutput>> {
      const outputs = await session.run(feeds);
      for (const name of watched) {
        const data = outputs[name]?.data ?? feeds[name]?.data;
        if (!(data instanceof Float32Array)) throw new Error(`calibration tensor ${name} is neither an output nor a float feed`);
        record(stats, name, data);
      }
      watcher.calls++;
      return outputs;
    },
  });
  return watcher;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "per-cell": { type: "string" }, seed: { type: "string", default: "2201" }, steps: { type: "string", default: "25" }, guidance: { type: "string" } },
});
const [packageName, calibrationOnnx, out] = positionals;
if (!packageName || !calibrationOnnx || !out) throw new Error("usage: calibrate.ts <package> <calibration.onnx> <ranges.json> [--per-cell N] [--seed S]");
const model = loadModelPackage(`models/${packageName}`);
const manifest = model.manifest;
const perCell = Number(values["per-cell"] ?? (manifest.condition.fields.filter((f) => f.kind === "categorical").length > 1 ? 1 : 8));
const seed = Number(values.seed);
const steps = Number(values.steps);
// the package's own default guidance unless told otherwise: the trajectories the int8 build will serve
const guidance = values.guidance !== undefined ? Number(values.guidance) : manifest.defaults.guidance;
const tensors = JSON.parse(readFileSync(`${calibrationOnnx}.tensors.json`, "utf8")) as { convs: { node: string; input: string; output: string }[] };
const watched = [...new Set(tensors.convs.flatMap((c) => [c.input, c.output]))];
const stats = new Map<string, TensorStats>();
const session = await createSession(calibrationOnnx, { ep: "cpu", intraOpThreads: 1 });
const denoiser = watching(session, watched, stats);
const runtime: ConditionRuntime = { kind: "condition", model, provider: "cpu", denoiser, decoder: null, onnxMillis: () => denoiser.runMillis, dispose: () => session.dispose() };
const grid = cellGrid(manifest, perCell, seed);
const started = performance.now();
const BATCH = 8;
for (let start = 0; start < grid.length; start += BATCH) {
  const batch = grid.slice(start, start + BATCH);
  const conditions = new Float32Array(batch.length * manifest.condition.width);
  batch.forEach((s, b) => conditions.set(encodeCondition(manifest, s.parameters), b * manifest.condition.width));
  const scheduler = createScheduler("ddim", { schedule: manifest.denoiser.schedule, prediction: manifest.denoiser.prediction, eta: 0 });
  await denoiseBatch({ runtime, scheduler, steps, guidance, conditions, noise: batch.map((_, b) => new SampleNoise(seed, start + b)) });
  process.stderr.write(`\r${Math.min(start + BATCH, grid.length)}/${grid.length} samples, ${denoiser.calls} denoiser calls`);
}
process.stderr.write("\n");
await runtime.dispose();
const denoiserFile = readFileSync(model.denoiserPath);
const round = (v: number) => Number(v.toPrecision(7));
writeFileSync(
  out,
  JSON.stringify(
    {
      package: manifest.name,
      version: manifest.version,
      denoiserSha256: createHash("sha256").update(denoiserFile).digest("hex"),
      command: `npx tsx training/quantize/calibrate.ts ${packageName} <calibration.onnx> ${out} --per-cell ${perCell} --seed ${seed} --steps ${steps} --guidance ${guidance}`,
      calibration: {
        sampler: "ddim",
        eta: 0,
        steps,
        guidance,
        seed,
        samples: grid.length,
        cells: new Set(grid.map((s) => s.cell)).size,
        perCell,
        denoiserCalls: denoiser.calls,
        rowsPerCall: manifest.denoiser.distilledGuidance === undefined ? "2 × batch (unconditional and conditional rows), batch 8" : "batch (the conditional rows: guidance distilled into the denoiser), batch 8",
        quantiles: "per call, 0.01 % / 99.99 % of a strided subsample of up to 65,536 values; lowest / highest over calls",
        seconds: Math.round((performance.now() - started) / 1000),
      },
      tensors: Object.fromEntries(watched.map((name) => {
        const s = stats.get(name)!;
        return [name, { min: round(s.min), max: round(s.max), p0001: round(s.p0001), p9999: round(s.p9999) }];
      })),
    },
    null,
    1,
  ) + "\n",
);
console.log(`${out}: ${watched.length} tensors from ${denoiser.calls} calls over ${grid.length} samples (${new Set(grid.map((s) => s.cell)).size} cells)`);
