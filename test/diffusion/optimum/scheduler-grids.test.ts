// RareForge's schedulers against diffusers' own timestep grids for a Stable-Diffusion schedule
// (test/fixtures/optimum/golden-schedulers.json, training/optimum/scheduler_goldens.py): each sampler under each
// timestep_spacing gives diffusers' timesteps and initial noise scale. steps_offset is not an option of these
// schedulers here, so the "leading" grids are checked at offset 0 (the offset-1 grids are in the fixture too).
import { describe, expect, it } from "vitest";
import { createScheduler, type SamplerName } from "../../../src/diffusion/index.ts";
import { readJsonFixture, type SchedulerGrid } from "./golden.ts";

interface SchedulerGoldens {
  readonly config: { beta_start: number; beta_end: number; num_train_timesteps: number };
  readonly grids: SchedulerGrid[];
}

const golden = readJsonFixture<SchedulerGoldens>("golden-schedulers.json");
const SAMPLER_OF: Record<string, SamplerName> = {
  DDIMScheduler: "ddim",
  DDPMScheduler: "ddpm",
  EulerDiscreteScheduler: "euler",
  EulerAncestralDiscreteScheduler: "euler-ancestral",
  DPMSolverMultistepScheduler: "dpmpp-2m",
};
const schedule = { kind: "scaled_linear" as const, trainSteps: golden.config.num_train_timesteps, betaStart: golden.config.beta_start, betaEnd: golden.config.beta_end };

describe("scheduler grids for an SD 1.x schedule match diffusers'", () => {
  for (const grid of golden.grids.filter((g) => g.spacing !== "leading" || g.stepsOffset === 0)) {
    for (const className of grid.classes) {
      const sampler = SAMPLER_OF[className]!;
      it(`${className} (${sampler}), ${grid.spacing}, ${grid.steps} steps`, () => {
        const scheduler = createScheduler(sampler, { schedule, prediction: "epsilon", spacing: grid.spacing });
        scheduler.setTimesteps(grid.steps);
        expect(scheduler.timesteps.length).toBe(grid.timesteps.length);
        scheduler.timesteps.forEach((t, i) => expect(t).toBeCloseTo(grid.timesteps[i]!, 4));
        expect(scheduler.initNoiseSigma).toBeCloseTo(grid.initNoiseSigma, 4);
      });
    }
  }
});
