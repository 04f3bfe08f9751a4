// What an Optimum export's sessions declare, read from their metadata (names, element types, ranks, static
// widths) and checked against each other before any work: a UNet whose channels fit neither layout, a text
// encoder whose hidden width is not the UNet's, extra inputs (LCM's timestep_cond, SDXL's text_embeds) are refused.
import { ModelPackageError } from "../../models/index.ts";
import type { OnnxSession } from "../../runtime/index.ts";

export interface OptimumLayout {
  text: { input: string; inputType: "int64" | "int32"; output: string; width: number };
  unet: {
    sample: string;
    timestep: string;
    timestepType: "float32" | "int64";
    /** 0: a scalar timestep (Optimum today); 1: one per batch row (older exports). */
    timestepRank: 0 | 1;
    hidden: string;
    output: string;
    /** latentChannels (text-to-image, latent blending) or 2 x latentChannels + 1 (inpainting: latents, mask, masked-image latents). */
    channels: number;
    inpainting: boolean;
  };
  decoder: { input: string; output: string };
  /** The VAE encoder: `moments` when it outputs mean and log-variance (latent_parameters), else the latent itself (older latent_sample). */
  encoder: { input: string; output: string; moments: boolean } | null;
}

const refuse = (dir: string, message: string) => new ModelPackageError("incompatible-parts", message, dir);
const describe = (session: OnnxSession) =>
  session.inputNames.map((name) => `${name} (${session.inputTypes[name] ?? "?"}, [${(session.inputShapes[name] ?? []).join(", ")}])`).join(", ");

/** The one input of a part; a part with more is refused. */
function soleInput(dir: string, session: OnnxSession, part: string): string {
  const [input, ...rest] = session.inputNames;
  if (!input || rest.length > 0) throw refuse(dir, `${part} must have one input; it has ${describe(session)}`);
  return input;
}

/** The output of the given rank (the first when several, e.g. last_hidden_state before pooler_output). */
function outputOfRank(dir: string, session: OnnxSession, rank: number, part: string): string {
  const name = session.outputNames.find((n) => session.outputShapes[n]?.length === rank);
  if (!name) throw refuse(dir, `${part} has no rank-${rank} output; outputs: ${session.outputNames.join(", ")}`);
  return name;
}

const staticDim = (shape: readonly (number | string)[] | undefined, axis: number) => {
  const d = shape?.[axis];
  return typeof d === "number" && d > 0 ? d : null;
};

export function readOptimumLayout(
  dir: string,
  sessions: { textEncoder: OnnxSession; unet: OnnxSession; vaeDecoder: OnnxSession; vaeEncoder: OnnxSession | null },
  exported: { latentChannels: number; inpainting: boolean },
  sizes: { sequenceLength: number; latentHeight: number; latentWidth: number },
): OptimumLayout {
  const { latentChannels } = exported;
  const { textEncoder, unet, vaeDecoder, vaeEncoder } = sessions;
  // text encoder: input_ids (int) -> last_hidden_state [B, S, D]
  const textInput = soleInput(dir, textEncoder, "text_encoder/model.onnx");
  const textInputType = textEncoder.inputTypes[textInput];
  if (textInputType !== "int64" && textInputType !== "int32") throw refuse(dir, `text_encoder input ${textInput} is ${textInputType}; token ids are int64 or int32`);
  const textOutput = outputOfRank(dir, textEncoder, 3, "text_encoder/model.onnx");
  const textWidth = staticDim(textEncoder.outputShapes[textOutput], 2);
  // UNet: one rank-4 sample, one rank-3 text input, one rank-0/1 timestep, nothing else
  const byRank = (rank: number) => unet.inputNames.filter((n) => unet.inputShapes[n]?.length === rank);
  const samples = byRank(4);
  const hiddens = byRank(3);
  const timesteps = [...byRank(0), ...byRank(1)];
  if (samples.length !== 1 || hiddens.length !== 1 || timesteps.length !== 1 || unet.inputNames.length !== 3)
    throw refuse(
      dir,
      `unet/model.onnx must take a sample [B, C, h, w], a timestep (scalar or [B]) and encoder_hidden_states [B, S, D], nothing else ` +
        `(LCM's timestep_cond and SDXL's text_embeds/time_ids are not supported); it takes ${describe(unet)}`,
    );
  const [sample, hidden, timestep] = [samples[0]!, hiddens[0]!, timesteps[0]!];
  const timestepType = unet.inputTypes[timestep];
  if (timestepType !== "float32" && timestepType !== "int64") throw refuse(dir, `unet timestep ${timestep} is ${timestepType}; float32 or int64 are supported`);
  const channels = staticDim(unet.inputShapes[sample], 1);
  const inpaintChannels = 2 * latentChannels + 1;
  if (channels !== latentChannels && channels !== inpaintChannels)
    throw refuse(
      dir,
      `unet sample has ${channels ?? "a dynamic number of"} channels; it fits neither layout: ${latentChannels} (text-to-image) or ${inpaintChannels} ` +
        `(inpainting: ${latentChannels} latents + 1 mask + ${latentChannels} masked-image latents)`,
    );
  if ((channels === inpaintChannels) !== exported.inpainting)
    throw refuse(dir, `model_index.json names ${exported.inpainting ? "an inpainting" : "a text-to-image"} pipeline, but the UNet takes ${channels} channels`);
  if (exported.inpainting && !vaeEncoder) throw refuse(dir, "an inpainting export needs vae_encoder/model.onnx (the masked image's latents)");
  const hiddenWidth = staticDim(unet.inputShapes[hidden], 2);
  if (textWidth === null || hiddenWidth === null || textWidth !== hiddenWidth)
    throw refuse(dir, `the text encoder's hidden states are ${textWidth ?? "of undeclared width"} wide; the UNet's ${hidden} takes ${hiddenWidth ?? "an undeclared width"}: the parts are from different models`);
  // fixed (non-dynamic) axes must be the sizes the pipeline feeds: the tokenizer's length, the manifest's latent grid
  const fixed = (shape: readonly (number | string)[] | undefined, axis: number, expected: number, what: string) => {
    const d = staticDim(shape, axis);
    if (d !== null && d !== expected) throw refuse(dir, `${what} is fixed at ${d}; the pipeline feeds ${expected}`);
  };
  fixed(textEncoder.inputShapes[textInput], 1, sizes.sequenceLength, `the text encoder's ${textInput} length (the tokenizer's model_max_length)`);
  fixed(unet.inputShapes[hidden], 1, sizes.sequenceLength, `the UNet's ${hidden} length (the tokenizer's model_max_length)`);
  fixed(unet.inputShapes[sample], 2, sizes.latentHeight, `the UNet's ${sample} height (rareforge.json image height / 8)`);
  fixed(unet.inputShapes[sample], 3, sizes.latentWidth, `the UNet's ${sample} width (rareforge.json image width / 8)`);
  const unetOutput = outputOfRank(dir, unet, 4, "unet/model.onnx");
  const decoderInput = soleInput(dir, vaeDecoder, "vae_decoder/model.onnx");
  const decoderOutput = outputOfRank(dir, vaeDecoder, 4, "vae_decoder/model.onnx");
  let encoder: OptimumLayout["encoder"] = null;
  if (vaeEncoder) {
    const output = outputOfRank(dir, vaeEncoder, 4, "vae_encoder/model.onnx");
    const outChannels = staticDim(vaeEncoder.outputShapes[output], 1);
    if (outChannels !== 2 * latentChannels && outChannels !== latentChannels)
      throw refuse(dir, `vae_encoder output ${output} has ${outChannels ?? "undeclared"} channels; expected ${2 * latentChannels} (mean and log-variance) or ${latentChannels}`);
    encoder = { input: soleInput(dir, vaeEncoder, "vae_encoder/model.onnx"), output, moments: outChannels === 2 * latentChannels };
  }
  return {
    text: { input: textInput, inputType: textInputType, output: textOutput, width: textWidth },
    unet: { sample, timestep, timestepType, timestepRank: unet.inputShapes[timestep]?.length === 0 ? 0 : 1, hidden, output: unetOutput, channels, inpainting: channels === inpaintChannels },
    decoder: { input: decoderInput, output: decoderOutput },
    encoder,
  };
}
