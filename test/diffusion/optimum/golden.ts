// Reading the tiny Optimum exports' golden files (test/fixtures/optimum/README.md): tensors stored as
// { dtype, dims, base64 } with little-endian bytes, written by training/optimum/*.py.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const OPTIMUM_FIXTURES = fileURLToPath(new URL("../../fixtures/optimum/", import.meta.url));
export const TINY_EXPORTS = ["tiny-sd", "tiny-sd-inpaint"] as const;
export type TinyExport = (typeof TINY_EXPORTS)[number];

/** One of diffusers' timestep grids in golden-schedulers.json: the classes that share it under these options. */
export interface SchedulerGrid {
  readonly spacing: "leading" | "linspace" | "trailing";
  readonly stepsOffset: number;
  readonly steps: number;
  readonly classes: string[];
  readonly timesteps: number[];
  readonly initNoiseSigma: number;
}

export interface StoredTensor {
  readonly dtype: "float32" | "int64";
  readonly dims: readonly number[];
  readonly base64: string;
}

export interface DecodedTensor {
  readonly type: "float32" | "int64";
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export function decodeTensor(stored: StoredTensor): DecodedTensor {
  const bytes = Buffer.from(stored.base64, "base64");
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const data = stored.dtype === "float32" ? new Float32Array(copy) : new BigInt64Array(copy);
  const expected = stored.dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) throw new Error(`stored tensor holds ${data.length} values, dims [${stored.dims.join(", ")}] need ${expected}`);
  return { type: stored.dtype, data, dims: stored.dims };
}

export function decodeFloats(stored: StoredTensor): Float32Array {
  const tensor = decodeTensor(stored);
  if (!(tensor.data instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${stored.dtype}`);
  return tensor.data;
}

export interface PartGolden {
  readonly inputs: Record<string, StoredTensor>;
  readonly outputs: Record<string, StoredTensor>;
}

export interface PartsGolden {
  readonly export: TinyExport;
  readonly timestep: "float32-scalar" | "int64-batch";
  readonly parts: Record<"text_encoder" | "unet" | "vae_encoder" | "vae_decoder", PartGolden>;
}

export function readJsonFixture<T>(relative: string): T {
  return JSON.parse(readFileSync(OPTIMUM_FIXTURES + relative, "utf8")) as T;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
