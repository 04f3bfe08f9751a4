// Deterministic train/val/test assignment: a sample's split follows from sha256(seed, sample id) alone, so
// the same export (or any export with the same seed and fractions) puts a sample in the same split, whatever
// else the filter selects and in whatever order samples are read.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ValidationError } from "../errors.ts";

export const SPLITS = ["train", "val", "test"] as const;
export type SplitName = (typeof SPLITS)[number];

export interface SplitSpec {
  train: number;
  val: number;
  test: number;
  seed: number;
}

export const DEFAULT_SPLIT: SplitSpec = { train: 0.8, val: 0.1, test: 0.1, seed: 0 };

const fraction = z.number().min(0, "a fraction cannot be negative").max(1, "a fraction cannot exceed 1");
const splitSchema = z
  .object({ train: fraction, val: fraction, test: fraction, seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) })
  .strict()
  .refine((s) => Math.abs(s.train + s.val + s.test - 1) <= 1e-9, { message: "train + val + test must be 1" });

export function parseSplit(input: Partial<SplitSpec> | null | undefined, pathPrefix = "split"): SplitSpec {
  const parsed = splitSchema.safeParse({ ...DEFAULT_SPLIT, ...(input ?? {}) });
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((issue) => ({ path: [pathPrefix, ...issue.path.map(String)].join("."), message: issue.message })),
      "invalid split",
    );
  }
  return parsed.data;
}

/** The split of one sample: the first 52 bits of sha256("<seed>:<sampleId>") as a uniform number in [0, 1). */
export function splitOf(spec: SplitSpec, sampleId: string): SplitName {
  const digest = createHash("sha256").update(`${spec.seed}:${sampleId}`).digest();
  const u = (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
  if (u < spec.train) return "train";
  if (u < spec.train + spec.val) return "val";
  // Fractions that sum to 1 only within rounding must not send a sample to an empty split.
  if (spec.test === 0) return spec.val > 0 ? "val" : "train";
  return "test";
}
