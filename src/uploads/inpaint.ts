// What every insertion into a reference image shares (a lesion into a scan, a hazard into a camera frame): the
// request's sampling settings and feather checked together, the runtime opened in this process, and one
// inpainting run of the model on its own grid. The geometry and the pixel mapping differ per kind; this does not.
import { generateSamples, GenerationInputError, openModelRuntime, resolveSamplingSettings, type ModelRuntime, type SamplingSettings, type SamplingSettingsInput } from "../diffusion/index.ts";
import { ValidationError, type FieldIssue } from "../errors.ts";
import type { ModelPackage, ScenarioParameters } from "../models/index.ts";
import type { GenerationRecord } from "../provenance/index.ts";
import { ExecutionProviderError, ExecutionProviderUnavailableError, offeredProviders, type ExecutionProviderName } from "../runtime/index.ts";

export const DEFAULT_FEATHER = 3;
export const MAX_FEATHER = 64;

/** Sampling settings and feather of an insertion request, every problem reported at once as `what`. */
export function resolveInsertionSettings(
  request: Omit<SamplingSettingsInput, "batchSize"> & { feather?: number | null },
  model: ModelPackage,
  defaultProvider: ExecutionProviderName,
  what: string,
): { settings: SamplingSettings; feather: number } {
  const feather = request.feather ?? DEFAULT_FEATHER;
  const issues: FieldIssue[] = [];
  if (!Number.isInteger(feather) || feather < 0 || feather > MAX_FEATHER) issues.push({ path: "feather", message: `feather must be a whole number of pixels in 0..${MAX_FEATHER}, got ${feather}` });
  let settings: SamplingSettings | undefined;
  try {
    const { sampler, steps, guidance, seed, executionProvider } = request;
    settings = resolveSamplingSettings({ sampler, steps, guidance, seed, executionProvider }, { manifest: model.manifest, executionProvider: defaultProvider });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    issues.push(...error.issues);
  }
  if (issues.length > 0 || !settings) throw new ValidationError(issues, what);
  return { settings, feather };
}

/**
 * The insertion runs in this process: a provider it cannot load here (cuda without the CUDA libraries) is
 * refused before anything is stored, as requestGeneration refuses one that no worker offers.
 */
export async function openInsertionRuntime(model: ModelPackage, ep: ExecutionProviderName, defaultProvider: ExecutionProviderName, onnxThreads: number): Promise<ModelRuntime> {
  try {
    return await openModelRuntime(model, { ep, ...(onnxThreads > 0 ? { intraOpThreads: onnxThreads } : {}) });
  } catch (error) {
    if (!(error instanceof ExecutionProviderError)) throw error;
    const available = offeredProviders(defaultProvider).filter((provider) => provider !== error.requested);
    throw new ExecutionProviderUnavailableError(error.requested, available, error.message);
  }
}

export interface GridInpainting {
  model: ModelPackage;
  runtime: ModelRuntime;
  settings: SamplingSettings;
  parameters: ScenarioParameters;
  /** PNG of the reference at any size (the pipeline scales it to the model's grid). */
  reference: Uint8Array;
  /** PNG of the model's grid size, white = regenerate. */
  mask: Uint8Array;
  strength: number;
  /** The sample index the noise is drawn for with the seed (a job's sample index; 0 for a single insertion). */
  index?: number;
  recordExtras: Record<string, unknown>;
  /** Message of a ValidationError from bad condition values. */
  what: string;
}

/** One sample inpainted on the model's grid: its record and its image in model space, planar [C, H, W]. */
export async function inpaintOnGrid(request: GridInpainting): Promise<{ record: GenerationRecord; image: Float32Array; onnxMillis: number }> {
  const { settings } = request;
  const before = request.runtime.onnxMillis();
  try {
    const [sample] = await generateSamples({
      model: request.model,
      runtime: request.runtime,
      sampler: settings.sampler,
      steps: settings.steps,
      guidance: settings.guidance,
      seed: settings.seed,
      indices: [request.index ?? 0],
      parameters: [request.parameters],
      batchSize: 1,
      reference: request.reference,
      mask: request.mask,
      strength: request.strength,
      recordExtras: request.recordExtras,
    });
    return { record: sample!.record, image: sample!.image.data, onnxMillis: request.runtime.onnxMillis() - before };
  } catch (error) {
    if (error instanceof GenerationInputError) throw new ValidationError([{ path: error.code === "indices" ? "parameters" : error.code, message: error.message }], request.what);
    throw error;
  }
}
