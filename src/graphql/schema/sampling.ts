// Sampling arguments shared by every mutation that samples: the sampler as a closed enum, and the
// descriptions of the settings that default to the model's manifest (src/diffusion/settings.ts).
import { FALLBACK_SAMPLING, SAMPLERS, samplerConstantName, type SamplerName } from "../../diffusion/index.ts";
import { builder } from "../builder.ts";

export const SamplerEnum = builder.enumType("Sampler", {
  description: "A diffusion sampler (scheduler). Left out, a request takes its model's default (model.json `defaults`).",
  values: Object.fromEntries(SAMPLERS.map((sampler) => [samplerConstantName(sampler), { value: sampler }])) as Record<string, { value: SamplerName }>,
});

export const SAMPLING_DEFAULT_DESCRIPTIONS = {
  sampler: `Default: the model's default sampler (${FALLBACK_SAMPLING.sampler} if its manifest names none).`,
  steps: `Default: the model's default number of steps (${FALLBACK_SAMPLING.steps} if its manifest names none).`,
  guidance: `Classifier-free guidance scale. Default: the model's default (${FALLBACK_SAMPLING.guidance} if its manifest names none).`,
} as const;
