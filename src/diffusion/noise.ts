// Per-sample noise: sample i of a request draws all its noise from a xoroshiro128+ generator (pure-rand)
// whose state is a hash of (seed, i) alone, so a sample is the same whatever its batch or worker.
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

export class NoiseKeyError extends Error {
  override readonly name = "NoiseKeyError";
}

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function checkKey(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new NoiseKeyError(`${what} must be a non-negative safe integer, got ${value}`);
}

/** The 128-bit generator state for (seed, index): four mixed 32-bit words, never all zero. */
export function noiseState(seed: number, index: number): [number, number, number, number] {
  checkKey(seed, "seed");
  checkKey(index, "sample index");
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 2 ** 32) >>> 0;
  const indexLo = index >>> 0;
  const indexHi = Math.floor(index / 2 ** 32) >>> 0;
  const words: [number, number, number, number] = [
    fmix32(seedLo ^ 0x9e3779b9),
    fmix32(seedHi ^ fmix32(indexLo ^ 0x7f4a7c15)),
    fmix32(indexLo ^ fmix32(seedLo + 0x632be5ab)),
    fmix32(indexHi ^ fmix32(seedHi + 0x85157af5) ^ 0x5bd1e995),
  ];
  if (words.every((w) => w === 0)) words[0] = 1;
  return words;
}

/** Standard normal draws for one sample, in a fixed order: initial noise first, then per-step noise. */
export class SampleNoise {
  private readonly rng: RandomGenerator;
  private spare: number | null = null;

  constructor(
    readonly seed: number,
    readonly index: number,
  ) {
    this.rng = xoroshiro128plusFromState(noiseState(seed, index));
  }

  /** One N(0, 1) value (Box–Muller, both outputs used). */
  next(): number {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    const u1 = 1 - uniformFloat64(this.rng); // (0, 1]: log is finite
    const u2 = uniformFloat64(this.rng);
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /** `count` N(0, 1) values as float32. */
  gaussian(count: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.next();
    return out;
  }
}
