// Shared by the golden tests: read a test/fixtures/<model>/golden.json fixture (docs/model-package.md) and
// compare the runtime's denoiser calls and DDIM trajectory against it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { denoiseBatch, type ConditionRuntime, type NoiseSource } from "../../src/diffusion/index.ts";
import { createScheduler, parseSampler } from "../../src/diffusion/schedulers/index.ts";

export interface GoldenFixture {
  model: string;
  denoiserCalls: { sample: string; sampleShape: number[]; timestep: number[]; condition: string; conditionShape: number[]; output: string }[];
  ddim: { steps: number; eta: number; guidance: number; timesteps: number[]; noise: string; shape: number[]; condition: string; final: string };
  trajectories?: { sampler: string; steps: number; guidance: number; final: string }[];
  decoderCalls?: { input: string; inputShape: number[]; output: string }[];
}

export function readGolden(dir: string): GoldenFixture {
  return JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as GoldenFixture;
}

export function readF32(dir: string, file: string): Float32Array {
  const bytes = readFileSync(join(dir, file));
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return max;
}

export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** Hands out stored noise, in order: what the PyTorch reference used. */
export class StoredNoise implements NoiseSource {
  private offset = 0;
  constructor(private readonly values: Float32Array) {}
  gaussian(count: number): Float32Array {
    const out = this.values.slice(this.offset, this.offset + count);
    if (out.length !== count) throw new Error("stored noise exhausted");
    this.offset += count;
    return out;
  }
}

/** One denoiser call on the runtime: rows of samples, one timestep and one condition vector per row. */
export async function runDenoiser(runtime: ConditionRuntime, sample: Float32Array, sampleShape: number[], timesteps: readonly number[], condition: Float32Array): Promise<Float32Array> {
  const manifest = runtime.model.manifest;
  const rows = sampleShape[0] ?? 1;
  const out = await runtime.denoiser.run({
    [manifest.denoiser.inputs.sample]: { type: "float32", data: sample, dims: sampleShape },
    [manifest.denoiser.inputs.timestep]:
      manifest.denoiser.timestepDtype === "int64"
        ? { type: "int64", data: BigInt64Array.from(timesteps.map((t) => BigInt(Math.round(t)))), dims: [rows] }
        : { type: "float32", data: Float32Array.from(timesteps), dims: [rows] },
    [manifest.denoiser.inputs.condition]: { type: "float32", data: condition, dims: [rows, condition.length / rows] },
  });
  const output = out[manifest.denoiser.output];
  if (!output) throw new Error("no denoiser output");
  return output.data;
}

/** The runtime's denoiser output for each call of the fixture (its stored inputs). */
export async function denoiserCallOutputs(runtime: ConditionRuntime, dir: string, golden: GoldenFixture = readGolden(dir)): Promise<Float32Array[]> {
  const outputs: Float32Array[] = [];
  for (const call of golden.denoiserCalls)
    outputs.push(await runDenoiser(runtime, readF32(dir, call.sample), call.sampleShape, call.timestep, readF32(dir, call.condition)));
  return outputs;
}

/** Max abs error of each denoiser call of the fixture. */
export async function denoiserCallErrors(runtime: ConditionRuntime, dir: string, golden: GoldenFixture): Promise<number[]> {
  const outputs = await denoiserCallOutputs(runtime, dir, golden);
  return golden.denoiserCalls.map((call, i) => maxAbsDiff(outputs[i]!, readF32(dir, call.output)));
}

/** Runs a trajectory with the runtime's pipeline loop from the fixture's stored noise and condition. */
export async function trajectoryError(
  runtime: ConditionRuntime,
  dir: string,
  golden: GoldenFixture,
  run: { sampler: string; steps: number; guidance: number; eta?: number; final: string },
): Promise<{ error: number; meanError: number; timesteps: readonly number[] }> {
  const manifest = runtime.model.manifest;
  const scheduler = createScheduler(parseSampler(run.sampler), {
    schedule: manifest.denoiser.schedule,
    prediction: manifest.denoiser.prediction,
    eta: run.eta ?? 0,
  });
  const noise = readF32(dir, golden.ddim.noise);
  const final = await denoiseBatch({
    runtime,
    scheduler,
    steps: run.steps,
    guidance: run.guidance,
    conditions: readF32(dir, golden.ddim.condition),
    noise: [new StoredNoise(noise)],
  });
  const expected = readF32(dir, run.final);
  return { error: maxAbsDiff(final, expected), meanError: meanAbsDiff(final, expected), timesteps: scheduler.timesteps };
}
