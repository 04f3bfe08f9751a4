// The sampling loop both package kinds share (condition-vector packages and Optimum exports): initial noise from
// each sample's own source, an optional image-to-image start part-way down the schedule, scheduler steps on the
// model output the caller computes, and inpainting by blending.
import type { Scheduler } from "./schedulers/index.ts";

/** Where a sample's Gaussian noise comes from (SampleNoise in production; stored arrays in golden tests). */
export interface NoiseSource {
  gaussian(count: number): Float32Array;
}

export interface DenoiseLoopOptions {
  scheduler: Scheduler;
  steps: number;
  /** Values per sample (C x H x W of the denoised space). */
  sampleSize: number;
  /** One noise source per sample, in batch order. */
  noise: readonly NoiseSource[];
  /** Image-to-image: start part-way down the schedule from this sample (one, shared by the batch), noised. */
  start: { sample: Float32Array; strength: number } | null;
  /** Inpainting by blending (1 = regenerate): outside it, the start sample noised to each next timestep. */
  blendMask: Float32Array | null;
  /** The (guided) model output for the batch's scaled model input at timestep t. */
  predict(modelInput: Float32Array, t: number): Promise<Float32Array>;
  /** Rewrites the model output before the step (feedback on the x0 estimate, ./feedback.ts); step counts from 0. */
  refine?: (modelInput: Float32Array, output: Float32Array, t: number, step: number, steps: number) => Promise<Float32Array>;
  onStep?: (step: number, steps: number) => void;
}

/** The sampling loop both package kinds share: initial noise, optional image-to-image start, steps, blending. */
export async function denoiseLoop(options: DenoiseLoopOptions): Promise<Float32Array> {
  const { scheduler, noise, start, sampleSize: n } = options;
  const count = noise.length;
  scheduler.setTimesteps(options.steps);
  let timesteps = scheduler.timesteps;
  // 1. initial noise per sample, drawn first from each sample's own generator
  const initialNoise = new Float32Array(count * n);
  noise.forEach((source, b) => initialNoise.set(source.gaussian(n), b * n));
  let x: Float32Array;
  let startBatch: Float32Array | null = null;
  if (start) {
    // 2a. image-to-image: start part-way down the schedule from the noised reference (diffusers' strength)
    const initSteps = Math.min(Math.floor(options.steps * start.strength), options.steps);
    const begin = options.steps - initSteps;
    scheduler.setBeginIndex(begin);
    timesteps = timesteps.slice(begin);
    startBatch = new Float32Array(count * n);
    for (let b = 0; b < count; b++) startBatch.set(start.sample, b * n);
    x = scheduler.addNoise(startBatch, initialNoise, timesteps[0] ?? 0);
  } else {
    // 2b. text-to-image: pure noise scaled to the first sigma
    x = initialNoise.map((v) => v * scheduler.initNoiseSigma);
  }
  const mask = options.blendMask;
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i] ?? 0;
    // 3. guided model output on the (scaled) sample
    const modelInput = scheduler.scaleModelInput(x, t);
    let modelOutput = await options.predict(modelInput, t);
    if (options.refine) modelOutput = await options.refine(modelInput, modelOutput, t, i, timesteps.length);
    // 4. scheduler step, with per-sample variance noise for ancestral samplers
    let stepNoise: Float32Array | undefined;
    if (scheduler.stochastic) {
      stepNoise = new Float32Array(count * n);
      noise.forEach((source, b) => stepNoise?.set(source.gaussian(n), b * n));
    }
    x = scheduler.step(modelOutput, t, x, stepNoise).prevSample;
    // 5. inpainting: keep the reference outside the mask, noised to the next timestep (exact at the end)
    if (mask && startBatch) {
      const next = timesteps[i + 1];
      const known = next === undefined ? startBatch : scheduler.addNoise(startBatch, initialNoise, next);
      for (let b = 0; b < count; b++) {
        for (let k = 0; k < n; k++) {
          const m = mask[k] ?? 0;
          const j = b * n + k;
          x[j] = m * (x[j] ?? 0) + (1 - m) * (known[j] ?? 0);
        }
      }
    }
    options.onStep?.(i + 1, timesteps.length);
  }
  return x;
}

