// scheduler_config.json -> RareForge scheduler, against diffusers itself (test/fixtures/optimum/golden-schedulers.json,
// training/optimum/scheduler_goldens.py): every class under every timestep_spacing, with steps_offset 0 and 1, gives
// diffusers' timesteps and initial noise scale; and the tiny export sampled with Euler from its config follows
// diffusers' Euler trajectory (leading + steps_offset 1) to 1e-3.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScheduler, openModelRuntime, sampleOptimumLatents, type OptimumRuntime } from "../../../src/diffusion/index.ts";
import { loadModelPackageAsync, parseSchedulerConfig, type OptimumSchedulerSettings } from "../../../src/models/index.ts";
import { decodeFloats, maxAbsDiff, OPTIMUM_FIXTURES, readJsonFixture, type SchedulerGrid, type StoredTensor } from "./golden.ts";
import { installExport, roadManifest } from "./install.ts";
import { readFileSync } from "node:fs";

interface SchedulerGoldens {
  readonly grids: SchedulerGrid[];
  readonly guidance: number;
  readonly cases: { prompt: string; negativePrompt: string }[];
  readonly noise: StoredTensor;
  readonly trajectories: Record<string, { class: string; timesteps: number[]; finalLatents: StoredTensor; latentsPerStep: StoredTensor[] }>;
}

const golden = readJsonFixture<SchedulerGoldens>("golden-schedulers.json");
const exportConfig = JSON.parse(readFileSync(join(OPTIMUM_FIXTURES, "tiny-sd/scheduler/scheduler_config.json"), "utf8")) as Record<string, unknown>;
/** The export's config as another class under other options (diffusers' from_config does the same). */
const configAs = (className: string, spacing: string, stepsOffset: number) => {
  const { skip_prk_steps: _prk, set_alpha_to_one: alpha, ...rest } = exportConfig;
  return { ...rest, _class_name: className, timestep_spacing: spacing, steps_offset: stepsOffset, ...(className === "DDIMScheduler" ? { set_alpha_to_one: alpha } : {}) };
};
const schedulerOf = (settings: OptimumSchedulerSettings) =>
  createScheduler(settings.sampler, { schedule: settings.schedule, prediction: settings.prediction, spacing: settings.spacing, stepsOffset: settings.stepsOffset, setAlphaToOne: settings.setAlphaToOne });

/**
 * diffusers' DPMSolverMultistepScheduler spaces "leading" over n + 1 points (its own grid); RareForge's dpmpp-2m uses
 * DDIM's "leading" grid (a known deviation, see scheduler-grids.test.ts). Every other combination must match.
 */
const deviates = (className: string, grid: SchedulerGrid) => className === "DPMSolverMultistepScheduler" && grid.spacing === "leading";

describe("scheduler_config.json gives diffusers' timestep grids", () => {
  for (const grid of golden.grids)
    for (const className of grid.classes.filter((c) => !deviates(c, grid)))
      it(`${className}, ${grid.spacing}, steps_offset ${grid.stepsOffset}, ${grid.steps} steps`, () => {
        const scheduler = schedulerOf(parseSchedulerConfig(configAs(className, grid.spacing, grid.stepsOffset)));
        scheduler.setTimesteps(grid.steps);
        expect(scheduler.timesteps.length).toBe(grid.timesteps.length);
        scheduler.timesteps.forEach((t, i) => expect(t).toBeCloseTo(grid.timesteps[i]!, 4));
        expect(scheduler.initNoiseSigma).toBeCloseTo(grid.initNoiseSigma, 4);
      });
});

describe("the tiny export sampled with Euler from its config follows diffusers' trajectory", () => {
  let root: string;
  let runtime: OptimumRuntime;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "rareforge-scheduler-config-"));
    const opened = await openModelRuntime(await loadModelPackageAsync(await installExport("tiny-sd", root, roadManifest("tiny-sd"))), { ep: "cpu" });
    if (opened.kind !== "optimum") throw new Error("expected an Optimum runtime");
    runtime = opened;
  });
  afterAll(async () => {
    await runtime?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it("EulerDiscreteScheduler, leading, steps_offset 1: the final latents to 1e-3", async () => {
    const trajectory = golden.trajectories["euler"]!;
    const scheduler = schedulerOf(parseSchedulerConfig(configAs(trajectory.class, "leading", 1)));
    scheduler.setTimesteps(trajectory.timesteps.length);
    expect([...scheduler.timesteps]).toEqual(trajectory.timesteps);
    const noise = decodeFloats(golden.noise);
    const perSample = noise.length / golden.cases.length;
    const latents = await sampleOptimumLatents({
      runtime,
      scheduler,
      steps: trajectory.timesteps.length,
      guidance: golden.guidance,
      prompts: golden.cases.map((c) => c.prompt),
      negativePrompts: golden.cases.map((c) => c.negativePrompt),
      noise: golden.cases.map((_, i) => ({ gaussian: () => noise.slice(i * perSample, (i + 1) * perSample) })),
    });
    expect(maxAbsDiff(latents, decodeFloats(trajectory.finalLatents))).toBeLessThan(1e-3);
  });
});
