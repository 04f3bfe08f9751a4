// rareforge.json: the small manifest beside a users' diffusers/Optimum ONNX export (optimum-cli export onnx
// --task text-to-image). The export's own files stay as they are; this says what RareForge needs that the export
// does not: identity, the scenario parameters and their allowed values, the prompt template, the image size.
import { z } from "zod";
import { labelRuleSchema, PACKAGE_NAME } from "../manifest.ts";
import { PromptTemplateError, templateFields } from "./prompt.ts";

export const OPTIMUM_SCHEMA = "rareforge.optimum/1";
export const OPTIMUM_MANIFEST_FILE = "rareforge.json";

/** The parts of an Optimum Stable-Diffusion export, by their paths inside it (optimum's layout). */
export const OPTIMUM_PARTS = {
  modelIndex: "model_index.json",
  scheduler: "scheduler/scheduler_config.json",
  vocab: "tokenizer/vocab.json",
  merges: "tokenizer/merges.txt",
  textEncoder: "text_encoder/model.onnx",
  unet: "unet/model.onnx",
  vaeDecoder: "vae_decoder/model.onnx",
  /** Optional: image-to-image and inpainting need it. */
  vaeEncoder: "vae_encoder/model.onnx",
  /** Optional (diffusers' AutoencoderKL config): scaling_factor, latent_channels, sample_size. */
  vaeConfig: "vae_decoder/config.json",
  /** Optional (diffusers' UNet2DConditionModel config): sample_size (latent side). */
  unetConfig: "unet/config.json",
} as const;
export const REQUIRED_PARTS = ["modelIndex", "scheduler", "vocab", "merges", "textEncoder", "unet", "vaeDecoder"] as const satisfies (keyof typeof OPTIMUM_PARTS)[];

const range = z.tuple([z.number(), z.number()]).refine(([lo, hi]) => hi > lo, "range [lo, hi] with hi > lo");
const parameterName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, "a parameter name (letters, digits, _)");
const parameterSchema = z.discriminatedUnion("kind", [
  z.object({ name: parameterName, kind: z.literal("categorical"), values: z.array(z.string().min(1).max(200)).min(1).max(1000) }),
  z.object({ name: parameterName, kind: z.literal("scalar"), range }),
]);
const imageSide = z.number().int().min(8).max(2048).refine((v) => v % 8 === 0, "a multiple of 8 (the VAE downsamples by 8)");

export const optimumManifestSchema = z
  .object({
    schema: z.literal(OPTIMUM_SCHEMA),
    /** Default: the export directory's name. */
    name: z.string().regex(PACKAGE_NAME, "lowercase letters, digits and dashes").optional(),
    /** Default: "sha-" and 12 hex digits of the export's file hashes (the content is the version). */
    version: z.string().min(1).max(80).optional(),
    // the export decodes RGB images; the medical domain's packages are grayscale DICOM
    domain: z.literal("automotive", { error: "an Optimum export makes RGB camera images: domain must be automotive" }),
    license: z.string().min(1),
    description: z.string().default(""),
    /** Default: the VAE's sample_size (vae_decoder/config.json), else the UNet's sample_size x 8 (unet/config.json). */
    image: z.object({ width: imageSide, height: imageSide }).optional(),
    prompt: z.object({ template: z.string().min(1).max(2000), negative: z.string().max(2000).default("") }),
    /** The scenario parameters the template may use, with their allowed values or ranges. */
    parameters: z.array(parameterSchema).min(1).max(64),
    labels: z.array(labelRuleSchema).default([]),
    defaults: z.object({ sampler: z.string().optional(), steps: z.number().int().optional(), guidance: z.number().optional() }).default({}),
    /** sha256 of every file of the export (written by registration; verified at every load). */
    files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)).optional(),
  })
  .superRefine((m, ctx) => {
    const names = new Set<string>();
    m.parameters.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: "custom", path: ["parameters", i, "name"], message: `duplicate parameter "${p.name}"` });
      names.add(p.name);
    });
    for (const key of ["template", "negative"] as const) {
      try {
        for (const field of templateFields(m.prompt[key]))
          if (!names.has(field)) ctx.addIssue({ code: "custom", path: ["prompt", key], message: `uses {${field}}, which is not a parameter; parameters: ${[...names].join(", ")}` });
      } catch (error) {
        if (!(error instanceof PromptTemplateError)) throw error;
        ctx.addIssue({ code: "custom", path: ["prompt", key], message: error.message });
      }
    }
    m.labels.forEach((rule, i) => {
      const refs = rule.kind === "box" ? [rule.class, rule.cx, rule.cy, rule.w, rule.h] : [rule.class, rule.cx, rule.cy, rule.radius];
      for (const ref of refs) if (!names.has(ref)) ctx.addIssue({ code: "custom", path: ["labels", i], message: `refers to unknown parameter "${ref}"` });
    });
  });

/** rareforge.json as written (name, version and image size may be left to the export). */
export type OptimumManifestParsed = z.infer<typeof optimumManifestSchema>;
/** rareforge.json with name, version and image size resolved (given, or derived from the export). */
export type OptimumManifest = Omit<OptimumManifestParsed, "name" | "version" | "image"> & { name: string; version: string; image: { width: number; height: number } };
export type OptimumManifestInput = z.input<typeof optimumManifestSchema>;
