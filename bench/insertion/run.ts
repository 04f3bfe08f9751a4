// bench/insertion: what inserting a hazard into a full-resolution camera frame adds to the model's own sampling
// time for one sample. Each round times, on the same runtime and with the same settings:
//   sampling  — the model samples one image of its own (generateSamples, batch 1), the hazard at the same place
//               in the grid as the insertion puts it;
//   insertion — insertHazardIntoFrame on the frame: the crop window, the grid mask, the inpainting run (the same
//               number of denoiser calls), the colour match, the feathered composite at full resolution and the
//               full-frame PNG encoding (the bands the window's rows touch; the frame's own bands are deflated once
//               per decoded frame, as a job over a reference set does);
//   cold      — the same insertion into a frame decoded anew (a frame's first insertion: every band deflated,
//               in zlib's thread pool while the model samples).
// Rounds interleave them (the order rotates) so drift on a shared machine hits all alike; the figures are medians
// over the rounds, after one warm-up of each. Overhead = insertion / sampling − 1, in wall time and in the
// process's CPU time (process.cpuUsage: every thread, onnxruntime's and zlib's included), which a loaded machine
// disturbs less.
//
//   node --import tsx bench/insertion/run.ts [--frame ../shared/data/images/udacity_test1.jpg] [--box 600,420,60,48]
//     [--steps 25] [--rounds 15] [--threads 1] [--out bench/insertion/results.json]
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSamples, openModelRuntime } from "../../src/diffusion/index.ts";
import { encodeLargePng, encodePngBands } from "../../src/imaging/index.ts";
import { loadModelPackage } from "../../src/models/index.ts";
import { cropWindowFor, decodeCameraFrame, insertHazardIntoFrame, type CameraFrame } from "../../src/uploads/index.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const framePath = option("frame", join(root, "../shared/data/images/udacity_test1.jpg"));
const [bx, by, bw, bh] = option("box", "600,420,60,48").split(",").map(Number) as [number, number, number, number];
const box = { x: bx, y: by, width: bw, height: bh };
const steps = Number(option("steps", "25"));
const rounds = Number(option("rounds", "15"));
const threads = Number(option("threads", "1"));
const out = option("out", join(root, "bench/insertion/results.json"));
const feather = 3;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const model = loadModelPackage(join(root, "models/road-hazards"));
const runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: threads });
const bytes = new Uint8Array(readFileSync(framePath));
const frame = decodeCameraFrame(bytes, 40_000_000);
const frameSha256 = createHash("sha256").update(bytes).digest("hex");
const settings = { sampler: "ddim" as const, steps, guidance: 3, seed: 11, executionProvider: "cpu" as const, batchSize: 1 };
const hazard = { hazard: "animal", weather: "clear", timeOfDay: "dusk" };
// the model's own sample puts the hazard where the insertion's window does
const window = cropWindowFor(box, frame, feather);
const own = { ...hazard, hazardCx: (box.x + box.width / 2 - window.x) / window.size, hazardCy: (box.y + box.height / 2 - window.y) / window.size, hazardW: box.width / window.size, hazardH: box.height / window.size };

const cpuMillis = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
interface Timing {
  wallMs: number;
  cpuMs: number;
  onnxMs: number;
  /** the full-frame PNG encode alone, the same call the insertion ends with */
  pngMs?: number;
}
async function timed(run: () => Promise<void>): Promise<Timing> {
  const onnxBefore = runtime.onnxMillis();
  const cpuBefore = cpuMillis();
  const started = performance.now();
  await run();
  return { wallMs: performance.now() - started, cpuMs: cpuMillis() - cpuBefore, onnxMs: runtime.onnxMillis() - onnxBefore };
}
const timeSampling = () =>
  timed(async () => {
    await generateSamples({ model, runtime, sampler: "ddim", steps, guidance: 3, seed: 11, indices: [0], parameters: [own], batchSize: 1 });
  });
// the frame's own bands, as the insertion keeps them per decoded frame: the encode a warm insertion ends with
const bands = await encodePngBands({ width: frame.width, height: frame.height, channels: 3, depth: 8, data: frame.interleaved });
async function timeInsertion(into: CameraFrame): Promise<Timing> {
  let result: Awaited<ReturnType<typeof insertHazardIntoFrame>> | undefined;
  const timing = await timed(async () => {
    result = await insertHazardIntoFrame({ frame: into, frameSha256, box, parameters: hazard, model, runtime, settings, feather });
  });
  const encodeStarted = performance.now();
  await encodeLargePng(result!.pixels, result!.record, into === frame ? bands : undefined);
  return { ...timing, pngMs: performance.now() - encodeStarted };
}
// a frame decoded anew: a new object, so none of its bands are deflated yet
const fresh = (): CameraFrame => ({ ...frame, interleaved: frame.interleaved.slice() });

await timeSampling();
await timeInsertion(frame);
await timeInsertion(fresh());
const sampling: Timing[] = [];
const insertion: Timing[] = [];
const cold: Timing[] = [];
const load = [loadavg()[0]!];
for (let round = 0; round < rounds; round++) {
  const order = [async () => sampling.push(await timeSampling()), async () => insertion.push(await timeInsertion(frame)), async () => cold.push(await timeInsertion(fresh()))];
  for (let k = 0; k < order.length; k++) await order[(k + round) % order.length]!();
}
load.push(loadavg()[0]!);
await runtime.dispose();

const samplingMs = median(sampling.map((s) => s.wallMs));
const insertionMs = median(insertion.map((s) => s.wallMs));
// per round, so a slow stretch of the machine counts against both sides of the ratio alike
const perRound = insertion.map((s, k) => s.wallMs / sampling[k]!.wallMs - 1);
const cpu = { sampling: median(sampling.map((s) => s.cpuMs)), insertion: median(insertion.map((s) => s.cpuMs)), cold: median(cold.map((s) => s.cpuMs)) };
const result = {
  frame: { file: framePath.split("/").pop(), width: frame.width, height: frame.height },
  box,
  window,
  model: `${model.manifest.name} ${model.manifest.version}`,
  steps,
  sampler: "ddim",
  guidance: 3,
  threads,
  rounds,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  loadAverage1m: load,
  at: new Date().toISOString(),
  samplingMedianMs: samplingMs,
  insertionMedianMs: insertionMs,
  samplingOnnxMedianMs: median(sampling.map((s) => s.onnxMs)),
  insertionOnnxMedianMs: median(insertion.map((s) => s.onnxMs)),
  fullFramePngEncodeMedianMs: median(insertion.map((s) => s.pngMs!)),
  fullFramePngEncodeAllBandsMedianMs: median(cold.map((s) => s.pngMs!)),
  overheadOfMedians: insertionMs / samplingMs - 1,
  overheadMedianPerRound: median(perRound),
  coldInsertionMedianMs: median(cold.map((s) => s.wallMs)),
  coldOverheadOfMedians: median(cold.map((s) => s.wallMs)) / samplingMs - 1,
  cpuMedianMs: cpu,
  cpuOverheadOfMedians: { insertion: cpu.insertion / cpu.sampling - 1, cold: cpu.cold / cpu.sampling - 1 },
  cpuOverheadMedianPerRound: median(insertion.map((s, k) => s.cpuMs / sampling[k]!.cpuMs - 1)),
  raw: { sampling, insertion, cold },
};
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `${result.frame.file} ${frame.width}x${frame.height}, box ${bw}x${bh}, window ${window.size}px, ${steps} DDIM steps, ${threads} thread(s), ${rounds} interleaved rounds: ` +
    `sampling median ${samplingMs.toFixed(0)} ms (onnx ${result.samplingOnnxMedianMs.toFixed(0)}), insertion median ${insertionMs.toFixed(0)} ms (onnx ${result.insertionOnnxMedianMs.toFixed(0)}, of the rest the full-frame PNG encode ${result.fullFramePngEncodeMedianMs.toFixed(0)}); ` +
    `insertion adds ${(100 * result.overheadOfMedians).toFixed(1)} % (median per round ${(100 * result.overheadMedianPerRound).toFixed(1)} %), into a new frame ${(100 * result.coldOverheadOfMedians).toFixed(1)} %; ` +
    `CPU time: sampling ${cpu.sampling.toFixed(0)} ms, insertion ${cpu.insertion.toFixed(0)} ms (adds ${(100 * result.cpuOverheadOfMedians.insertion).toFixed(1)} %, per round ${(100 * result.cpuOverheadMedianPerRound).toFixed(1)} %), new frame ${cpu.cold.toFixed(0)} ms (adds ${(100 * result.cpuOverheadOfMedians.cold).toFixed(1)} %); load ${load.map((l) => l.toFixed(1)).join(" → ")}`,
);
