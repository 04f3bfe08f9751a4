// A pipeline golden of the PyTorch reference (training/optimum/reference_pipeline.py) replayed through the runtime's
// Optimum pipeline: the export's scheduler, the golden's initial noise injected, its reference and mask decoded by
// the request path. Shared by the parity test and bench/optimum/parity.ts.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createScheduler, decodeLatents, sampleOptimumLatents, validateRequest, type OptimumRuntime, type Scheduler } from "../../../src/diffusion/index.ts";
import type { ModelPackage } from "../../../src/models/index.ts";
import { decodeFloats, OPTIMUM_FIXTURES, type StoredTensor } from "./golden.ts";

export interface PipelineGolden {
  readonly export: "tiny-sd" | "tiny-sd-inpaint";
  readonly steps: number;
  readonly guidance: number;
  readonly cases: { prompt: string; negativePrompt: string }[];
  readonly timesteps: number[];
  readonly inputIds: StoredTensor;
  readonly promptEmbeds: StoredTensor;
  readonly noise: StoredTensor;
  readonly finalLatents: StoredTensor;
  readonly image: StoredTensor;
  readonly maskLatent?: StoredTensor;
}

/** The scheduler an export's scheduler_config.json names, with its options. */
export function exportScheduler(model: ModelPackage): Scheduler {
  const { scheduler } = model.optimum!;
  return createScheduler(scheduler.sampler, {
    schedule: scheduler.schedule,
    prediction: scheduler.prediction,
    spacing: scheduler.spacing,
    stepsOffset: scheduler.stepsOffset,
    setAlphaToOne: scheduler.setAlphaToOne,
  });
}

/** What a replay reports along the way, for the test to check. */
export interface ReplayObserver {
  /** The strength the request path gave the inpainting reference. */
  strength?(strength: number): void;
  /** Each noise draw's size and the golden's noise per sample. */
  noiseDraw?(count: number, perSample: number): void;
}

/** Final latents and the decoded image (0..1) of the golden's cases. */
export async function replayGolden(model: ModelPackage, runtime: OptimumRuntime, golden: PipelineGolden, observe: ReplayObserver = {}): Promise<{ latents: Float32Array; image: Float32Array }> {
  let reference = null;
  if (golden.maskLatent) {
    const prepared = validateRequest({
      model,
      sampler: "ddim",
      steps: golden.steps,
      guidance: golden.guidance,
      seed: 0,
      indices: [0],
      parameters: [{ hazard: "pedestrian", timeOfDay: "night", weather: "rain" }],
      reference: await readFile(join(OPTIMUM_FIXTURES, "inpaint/reference.png")),
      mask: await readFile(join(OPTIMUM_FIXTURES, "inpaint/mask.png")),
    })!;
    observe.strength?.(prepared.strength);
    reference = { image: prepared.sample, mask: prepared.mask, strength: prepared.strength };
  }
  const noise = decodeFloats(golden.noise);
  const perSample = noise.length / golden.cases.length;
  const latents = await sampleOptimumLatents({
    runtime,
    scheduler: exportScheduler(model),
    steps: golden.steps,
    guidance: golden.guidance,
    prompts: golden.cases.map((c) => c.prompt),
    negativePrompts: golden.cases.map((c) => c.negativePrompt),
    noise: golden.cases.map((_, i) => ({
      gaussian: (n: number) => {
        observe.noiseDraw?.(n, perSample);
        return noise.slice(i * perSample, (i + 1) * perSample);
      },
    })),
    reference,
  });
  const image = (await decodeLatents(runtime, latents, golden.cases.length)).map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
  return { latents, image };
}
