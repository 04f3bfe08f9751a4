// Sampling arguments shared by every mutation that samples: the sampler as a closed enum, and the
// descriptions of the settings that default to the model's manifest (src/diffusion/settings.ts).
import { FALLBACK_SAMPLING, SAMPLERS, SAMPLING_QUALITIES, samplerConstantName, type SamplerName, type SamplingQuality } from "../../diffusion/index.ts";
import { builder } from "../builder.ts";

export const SamplerEnum = builder.enumType("Sampler", {
  description: "A diffusion sampler (scheduler). Left out, a request takes its model's default (model.json `defaults`).",
  values: Object.fromEntries(SAMPLERS.map((sampler) => [samplerConstantName(sampler), { value: sampler }])) as Record<string, { value: SamplerName }>,
});

export const SamplingQualityEnum = builder.enumType("SamplingQuality", {
  description:
    "Where the sampler, steps and guidance a request leaves out come from: DEFAULT, the model's `defaults`; FAST, its `fast` settings (the cheapest the throughput benchmark found within 2 points of the default's judged accuracy; BENCHMARKS.md). Settings the request gives still win. FAST on a model without `fast` settings is a ValidationError on `quality`.",
  values: Object.fromEntries(SAMPLING_QUALITIES.map((quality) => [quality.toUpperCase(), { value: quality }])) as Record<string, { value: SamplingQuality }>,
});

export const SAMPLING_DEFAULT_DESCRIPTIONS = {
  sampler: `Default: the model's default sampler (${FALLBACK_SAMPLING.sampler} if its manifest names none).`,
  steps: `Default: the model's default number of steps (${FALLBACK_SAMPLING.steps} if its manifest names none).`,
  guidance: `Classifier-free guidance scale. Default: the model's default (${FALLBACK_SAMPLING.guidance} if its manifest names none).`,
  quality: "FAST: sampler, steps and guidance left out come from the model's `fast` settings instead of its `defaults` (recorded in each sample's provenance). Default: DEFAULT.",
} as const;
