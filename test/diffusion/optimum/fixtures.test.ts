// The tiny Optimum-style exports (training/optimum/build_tiny_exports.py) load in onnxruntime-node with
// exactly Optimum's layout, tensor names, dtypes and ranks, and each ONNX part computes what its PyTorch
// module does (per-part goldens, to 1e-4). The session metadata is read through onnxruntime-node itself:
// these are facts about the fixture files, checked independently of the runtime under test.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeFloats, decodeTensor, maxAbsDiff, OPTIMUM_FIXTURES, readJsonFixture, TINY_EXPORTS, type PartsGolden } from "./golden.ts";

const PARTS = ["text_encoder", "unet", "vae_encoder", "vae_decoder"] as const;
type Part = (typeof PARTS)[number];

/** Optimum's names for each part (optimum/exporters/onnx/model_configs.py). */
const NAMES: Record<Part, { inputs: string[]; outputs: string[] }> = {
  text_encoder: { inputs: ["input_ids"], outputs: ["last_hidden_state", "pooler_output"] },
  unet: { inputs: ["sample", "timestep", "encoder_hidden_states"], outputs: ["out_sample"] },
  vae_encoder: { inputs: ["sample"], outputs: ["latent_parameters"] },
  vae_decoder: { inputs: ["latent_sample"], outputs: ["sample"] },
};

/** What each export is meant to cover. */
const EXPECTED = {
  "tiny-sd": { pipeline: "StableDiffusionPipeline", unetChannels: 4, textWidth: 32, timestep: { type: "float32", rank: 0 }, padToken: "<|endoftext|>" },
  "tiny-sd-inpaint": { pipeline: "OnnxStableDiffusionInpaintPipeline", unetChannels: 9, textWidth: 48, timestep: { type: "int64", rank: 1 }, padToken: "!" },
} as const;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));
}

function tensorMeta(metadata: readonly ort.InferenceSession.ValueMetadata[], name: string): { type: string; shape: readonly (number | string)[] } {
  const meta = metadata.find((m) => m.name === name);
  if (!meta || !meta.isTensor) throw new Error(`no tensor ${name}`);
  return { type: meta.type, shape: meta.shape };
}

it("all tiny exports and their goldens together stay within 5 MB", () => {
  const bytes = filesUnder(OPTIMUM_FIXTURES).reduce((sum, file) => sum + statSync(file).size, 0);
  expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
});

for (const name of TINY_EXPORTS) {
  describe(`tiny export ${name}`, () => {
    const dir = join(OPTIMUM_FIXTURES, name);
    const expected = EXPECTED[name];
    const golden = readJsonFixture<PartsGolden>(`parts/${name}.json`);
    const sessions = {} as Record<Part, ort.InferenceSession>;
    beforeAll(async () => {
      for (const part of PARTS) sessions[part] = await ort.InferenceSession.create(join(dir, part, "model.onnx"), { executionProviders: ["cpu"] });
    });
    afterAll(async () => {
      for (const part of PARTS) await sessions[part]?.release();
    });

    it("has Optimum's directory layout, a diffusers model_index.json and an SD 1.x scheduler config", () => {
      for (const file of ["model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json", ...PARTS.map((p) => `${p}/model.onnx`)]) {
        expect(existsSync(join(dir, file)), file).toBe(true);
      }
      const index = JSON.parse(readFileSync(join(dir, "model_index.json"), "utf8"));
      expect(index._class_name).toBe(expected.pipeline);
      if (name === "tiny-sd") {
        // optimum-cli keeps the source pipeline's index: PyTorch classes, one "vae" entry for both VAE parts
        expect(index).toMatchObject({ text_encoder: ["transformers", "CLIPTextModel"], unet: ["diffusers", "UNet2DConditionModel"], vae: ["diffusers", "AutoencoderKL"] });
      } else {
        // diffusers' ONNX conversion script: every part an OnnxRuntimeModel
        for (const part of PARTS) expect(index[part]).toEqual(["diffusers", "OnnxRuntimeModel"]);
      }
      expect(index.tokenizer).toEqual(["transformers", "CLIPTokenizer"]);
      const scheduler = JSON.parse(readFileSync(join(dir, "scheduler/scheduler_config.json"), "utf8"));
      expect(scheduler).toMatchObject({ beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000, steps_offset: 1, prediction_type: "epsilon", timestep_spacing: "leading", set_alpha_to_one: false, clip_sample: false });
      expect(index.scheduler).toEqual(["diffusers", scheduler._class_name]);
      const merges = readFileSync(join(dir, "tokenizer/merges.txt"), "utf8");
      expect(merges.startsWith("#version: 0.2\n")).toBe(true);
      const config = JSON.parse(readFileSync(join(dir, "tokenizer/tokenizer_config.json"), "utf8"));
      expect(config.model_max_length).toBe(77);
      expect(config.pad_token).toBe(expected.padToken);
    });

    it("declares Optimum's input and output names, dtypes and ranks, with a dynamic batch axis", () => {
      for (const part of PARTS) {
        expect([...sessions[part].inputNames].sort(), part).toEqual([...NAMES[part].inputs].sort());
        expect([...sessions[part].outputNames], part).toEqual(NAMES[part].outputs);
      }
      const ids = tensorMeta(sessions.text_encoder.inputMetadata, "input_ids");
      expect(ids.type).toBe("int64");
      expect(ids.shape).toHaveLength(2);
      expect(typeof ids.shape[0]).toBe("string");
      const hidden = tensorMeta(sessions.text_encoder.outputMetadata, "last_hidden_state");
      expect(hidden.type).toBe("float32");
      expect(hidden.shape[2]).toBe(expected.textWidth);
      const sample = tensorMeta(sessions.unet.inputMetadata, "sample");
      expect(sample.type).toBe("float32");
      expect(sample.shape).toHaveLength(4);
      expect(sample.shape[1]).toBe(expected.unetChannels);
      expect(typeof sample.shape[0]).toBe("string");
      const timestep = tensorMeta(sessions.unet.inputMetadata, "timestep");
      expect(timestep.type).toBe(expected.timestep.type);
      expect(timestep.shape).toHaveLength(expected.timestep.rank);
      const context = tensorMeta(sessions.unet.inputMetadata, "encoder_hidden_states");
      expect(context.shape[2]).toBe(expected.textWidth);
      expect(tensorMeta(sessions.vae_encoder.outputMetadata, "latent_parameters").shape[1]).toBe(8);
      // Optimum's axes: batch and spatial dims symbolic, channels fixed.
      expect(tensorMeta(sessions.vae_decoder.inputMetadata, "latent_sample").shape).toEqual(["batch_size", 4, "height_latent", "width_latent"]);
      expect(tensorMeta(sessions.vae_decoder.outputMetadata, "sample").shape).toEqual(["batch_size", 3, "height", "width"]);
      expect(tensorMeta(sessions.vae_encoder.inputMetadata, "sample").shape).toEqual(["batch_size", 3, "height", "width"]);
      expect(tensorMeta(sessions.vae_encoder.outputMetadata, "latent_parameters").shape).toEqual(["batch_size", 8, "height_latent", "width_latent"]);
      expect(tensorMeta(sessions.unet.inputMetadata, "sample").shape).toEqual(["batch_size", expected.unetChannels, "height", "width"]);
      expect(tensorMeta(sessions.unet.inputMetadata, "encoder_hidden_states").shape).toEqual(["batch_size", "sequence_length", expected.textWidth]);
      expect(tensorMeta(sessions.text_encoder.inputMetadata, "input_ids").shape).toEqual(["batch_size", "sequence_length"]);
      expect(tensorMeta(sessions.unet.outputMetadata, "out_sample").shape[1]).toBe(4);
    });

    for (const part of PARTS) {
      it(`${part} matches its PyTorch module to 1e-4 on the stored inputs`, async () => {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [input, stored] of Object.entries(golden.parts[part].inputs)) {
          const tensor = decodeTensor(stored);
          feeds[input] = new ort.Tensor(tensor.type, tensor.data, [...tensor.dims]);
        }
        const results = await sessions[part].run(feeds);
        for (const [output, stored] of Object.entries(golden.parts[part].outputs)) {
          const actual = results[output]!;
          expect([...actual.dims], `${part}.${output} dims`).toEqual(stored.dims);
          expect(maxAbsDiff(actual.data as Float32Array, decodeFloats(stored)), `${part}.${output}`).toBeLessThanOrEqual(1e-4);
        }
      });
    }

    it("runs one batch-3 pass through every part with the shapes a 64x64 pipeline uses", async () => {
      const batch = 3;
      const ids = new BigInt64Array(batch * 77).fill(1n);
      const text = await sessions.text_encoder.run({ input_ids: new ort.Tensor("int64", ids, [batch, 77]) });
      expect(text.last_hidden_state!.dims).toEqual([batch, 77, expected.textWidth]);
      expect(text.pooler_output!.dims).toEqual([batch, expected.textWidth]);
      const timestep = expected.timestep.type === "int64" ? new ort.Tensor("int64", new BigInt64Array(batch).fill(500n), [batch]) : new ort.Tensor("float32", new Float32Array([500]), []);
      const unet = await sessions.unet.run({
        sample: new ort.Tensor("float32", new Float32Array(batch * expected.unetChannels * 64).fill(0.1), [batch, expected.unetChannels, 8, 8]),
        timestep,
        encoder_hidden_states: text.last_hidden_state!,
      });
      expect(unet.out_sample!.dims).toEqual([batch, 4, 8, 8]);
      const decoded = await sessions.vae_decoder.run({ latent_sample: unet.out_sample! });
      expect(decoded.sample!.dims).toEqual([batch, 3, 64, 64]);
      const encoded = await sessions.vae_encoder.run({ sample: decoded.sample! });
      expect(encoded.latent_parameters!.dims).toEqual([batch, 8, 8, 8]);
    });

    it("the prompt reaches the UNet: different text states give a different noise prediction", async () => {
      const stored = golden.parts.unet.inputs;
      const sample = decodeTensor(stored.sample!);
      const context = decodeFloats(stored.encoder_hidden_states!);
      const timestep = decodeTensor(stored.timestep!);
      const run = async (states: Float32Array) =>
        (await sessions.unet.run({
          sample: new ort.Tensor("float32", sample.data as Float32Array, [...sample.dims]),
          timestep: new ort.Tensor(timestep.type, timestep.data, [...timestep.dims]),
          encoder_hidden_states: new ort.Tensor("float32", states, [...stored.encoder_hidden_states!.dims]),
        })).out_sample!.data as Float32Array;
      const base = await run(context);
      const shifted = await run(context.map((v, i) => (i % 7 === 0 ? v + 1 : v)));
      expect(maxAbsDiff(base, shifted)).toBeGreaterThan(1e-2);
    });
  });
}

it("odd-parts/unet-5-channels.onnx has tiny-sd's UNet interface but a 5-channel sample (for refusals)", async () => {
  const session = await ort.InferenceSession.create(join(OPTIMUM_FIXTURES, "odd-parts/unet-5-channels.onnx"));
  try {
    expect([...session.inputNames].sort()).toEqual(["encoder_hidden_states", "sample", "timestep"]);
    expect(tensorMeta(session.inputMetadata, "sample").shape[1]).toBe(5);
    expect(tensorMeta(session.inputMetadata, "encoder_hidden_states").shape[2]).toBe(EXPECTED["tiny-sd"].textWidth);
    expect(tensorMeta(session.inputMetadata, "timestep").shape).toHaveLength(0);
  } finally {
    await session.release();
  }
});
