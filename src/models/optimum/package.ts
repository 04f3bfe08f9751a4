// Loading a users' Optimum export as a model package: rareforge.json beside the export's own files, every file
// hashed (and checked against rareforge.json's `files` when it lists them), the parts checked present, the
// scheduler config mapped, and a rareforge.model/1 view of it for everything downstream that reads a manifest
// (scenario checks, labels, image format, sampling defaults).
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { z } from "zod";
import { ModelPackageError } from "../errors.ts";
import { modelManifestSchema, PACKAGE_NAME, type ConditionField, type ModelManifest } from "../manifest.ts";
import { optimumManifestSchema, OPTIMUM_MANIFEST_FILE, OPTIMUM_PARTS, REQUIRED_PARTS, type OptimumManifest, type OptimumManifestParsed } from "./manifest.ts";
import { parseSchedulerConfig, SchedulerConfigError, type OptimumSchedulerSettings } from "./scheduler-config.ts";

/** What the Optimum runtime needs beyond the manifest view: the parts' paths and the export's own settings. */
export interface OptimumExport {
  readonly manifest: OptimumManifest;
  readonly scheduler: OptimumSchedulerSettings;
  /** Absolute paths of the ONNX parts and the tokenizer directory. */
  readonly parts: { textEncoder: string; unet: string; vaeDecoder: string; vaeEncoder: string | null; tokenizerDir: string };
  /** latents / scalingFactor go into the VAE decoder; the encoder's mean x scalingFactor are latents. */
  readonly vaeScalingFactor: number;
  readonly latentChannels: number;
  /** model_index.json names an inpainting pipeline (its UNet takes latents, mask and masked-image latents). */
  readonly inpainting: boolean;
  /** The image side the export was trained at (its configs' sample_size), when they say. */
  readonly imageSize: number | null;
}

/** Limits on what a package directory may hold (a export is a dozen files; this stops a walk of a wrong directory). */
const MAX_FILES = 2000;
const MAX_JSON_BYTES = 1 << 20;
/** Stable Diffusion's VAE (diffusers AutoencoderKL defaults) when vae_decoder/config.json does not say. */
const SD_VAE = { scalingFactor: 0.18215, latentChannels: 4 };

const formatIssues = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
const exists = (path: string) => stat(path).then((s) => s.isFile(), () => false);

/** A small JSON file of the export (size checked before reading). */
export async function readExportJson(dir: string, file: string): Promise<unknown> {
  const path = join(dir, file);
  const stats = await stat(path).catch(() => null);
  if (!stats?.isFile()) throw new ModelPackageError("missing-file", `the Optimum export ${dir} has no ${file}`, dir);
  if (stats.size > MAX_JSON_BYTES) throw new ModelPackageError("invalid-manifest", `${path} has ${stats.size} bytes; a JSON part may have at most ${MAX_JSON_BYTES}`, dir);
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new ModelPackageError("invalid-manifest", `${path} is not valid JSON: ${(error as Error).message}`, dir);
  }
}

/** Every regular file under dir (relative, "/"-separated), but rareforge.json; a link or special file is refused. */
export async function exportFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      const name = relative(dir, path).split(sep).join("/");
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        if (name !== OPTIMUM_MANIFEST_FILE) files.push(name);
        if (files.length > MAX_FILES) throw new ModelPackageError("invalid-manifest", `${dir} holds more than ${MAX_FILES} files: not an Optimum export`, dir);
      } else throw new ModelPackageError("undeclared-file", `${name} in ${dir} is not a plain file (a link or device); a package holds plain files only`, dir);
    }
  };
  await walk(dir);
  return files.sort();
}

/** rareforge.json's content, validated (the template's fields are parameters, values well formed). */
export function parseOptimumManifest(dir: string, json: unknown): OptimumManifestParsed {
  const parsed = optimumManifestSchema.safeParse(json);
  if (!parsed.success) throw new ModelPackageError("invalid-manifest", `invalid ${OPTIMUM_MANIFEST_FILE} in ${dir}: ${formatIssues(parsed.error)}`, dir);
  return parsed.data;
}

/**
 * Name, version and image size as given, or derived from the export: the directory's name, "sha-" and 12 hex digits
 * of a hash over every file's sha256, the configs' sample_size. One that cannot be derived is refused, naming it.
 */
export function resolveOptimumManifest(dir: string, parsed: OptimumManifestParsed, exported: Pick<OptimumExport, "imageSize">, fileHashes: Readonly<Record<string, string>>): OptimumManifest {
  const name = parsed.name ?? basename(dir);
  if (!PACKAGE_NAME.test(name))
    throw new ModelPackageError("invalid-manifest", `${OPTIMUM_MANIFEST_FILE} gives no name and the directory's, "${name}", is not a package name (lowercase letters, digits and dashes): give "name"`, dir);
  const content = Object.entries(fileHashes)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([file, hash]) => `${hash}  ${file}\n`)
    .join("");
  const version = parsed.version ?? `sha-${createHash("sha256").update(content).digest("hex").slice(0, 12)}`;
  const image = parsed.image ?? (exported.imageSize ? { width: exported.imageSize, height: exported.imageSize } : null);
  if (!image || image.width % 8 !== 0)
    throw new ModelPackageError("invalid-manifest", `${OPTIMUM_MANIFEST_FILE} gives no image size and the export's configs have no usable sample_size (a multiple of 8): give "image": { "width", "height" }`, dir);
  return { ...parsed, name, version, image };
}

const vaeConfigSchema = z
  .object({ scaling_factor: z.number().positive().optional(), latent_channels: z.number().int().min(1).max(64).optional(), sample_size: z.number().int().min(8).max(2048).optional() })
  .passthrough();
const unetConfigSchema = z.object({ sample_size: z.number().int().min(1).max(256).optional() }).passthrough();

/**
 * Checks an export directory before any work: every required part present, the scheduler config
 * one the runtime can honour, the VAE settings readable. Throws ModelPackageError naming the problem.
 */
export async function describeOptimumExport(dir: string): Promise<Omit<OptimumExport, "manifest">> {
  const missing: string[] = [];
  for (const part of REQUIRED_PARTS) if (!(await exists(join(dir, OPTIMUM_PARTS[part])))) missing.push(OPTIMUM_PARTS[part]);
  if (missing.length > 0)
    throw new ModelPackageError("missing-file", `the Optimum export ${dir} lacks ${missing.join(", ")} (optimum-cli export onnx --task text-to-image writes them)`, dir);
  let scheduler: OptimumSchedulerSettings;
  try {
    scheduler = parseSchedulerConfig(await readExportJson(dir, OPTIMUM_PARTS.scheduler));
  } catch (error) {
    if (error instanceof SchedulerConfigError) throw new ModelPackageError("invalid-manifest", `${dir}: ${error.message}`, dir);
    throw error;
  }
  let vae: { scalingFactor: number; latentChannels: number; sampleSize?: number } = SD_VAE;
  if (await exists(join(dir, OPTIMUM_PARTS.vaeConfig))) {
    const parsed = vaeConfigSchema.safeParse(await readExportJson(dir, OPTIMUM_PARTS.vaeConfig));
    if (!parsed.success) throw new ModelPackageError("invalid-manifest", `${OPTIMUM_PARTS.vaeConfig} in ${dir}: ${formatIssues(parsed.error)}`, dir);
    vae = {
      scalingFactor: parsed.data.scaling_factor ?? SD_VAE.scalingFactor,
      latentChannels: parsed.data.latent_channels ?? SD_VAE.latentChannels,
      ...(parsed.data.sample_size ? { sampleSize: parsed.data.sample_size } : {}),
    };
  }
  let imageSize = vae.sampleSize ?? null;
  if (imageSize === null && (await exists(join(dir, OPTIMUM_PARTS.unetConfig)))) {
    const unetConfig = unetConfigSchema.safeParse(await readExportJson(dir, OPTIMUM_PARTS.unetConfig));
    if (unetConfig.success && unetConfig.data.sample_size) imageSize = unetConfig.data.sample_size * 8;
  }
  const index = z.object({ _class_name: z.string() }).passthrough().safeParse(await readExportJson(dir, OPTIMUM_PARTS.modelIndex));
  if (!index.success) throw new ModelPackageError("invalid-manifest", `${OPTIMUM_PARTS.modelIndex} in ${dir} names no pipeline (_class_name): ${formatIssues(index.error)}`, dir);
  const encoder = join(dir, OPTIMUM_PARTS.vaeEncoder);
  return {
    scheduler,
    parts: {
      textEncoder: join(dir, OPTIMUM_PARTS.textEncoder),
      unet: join(dir, OPTIMUM_PARTS.unet),
      vaeDecoder: join(dir, OPTIMUM_PARTS.vaeDecoder),
      vaeEncoder: (await exists(encoder)) ? encoder : null,
      tokenizerDir: join(dir, "tokenizer"),
    },
    vaeScalingFactor: vae.scalingFactor,
    latentChannels: vae.latentChannels,
    inpainting: /Inpaint/.test(index.data._class_name),
    imageSize,
  };
}

/**
 * The rareforge.model/1 view of an Optimum package: its parameters as the condition layout (one-hot categoricals,
 * scalars normalised; recorded in provenance like any condition), RGB images in [-1, 1], the UNet as the denoiser
 * over latents [channels, H/8, W/8], the scheduler config's training schedule and prediction type. The UNet's
 * input names here are descriptive: the Optimum runtime reads the real ones from the session.
 */
export function manifestView(manifest: OptimumManifest, exported: Omit<OptimumExport, "manifest">, fileHashes: Readonly<Record<string, string>>): ModelManifest {
  let offset = 0;
  const fields: ConditionField[] = manifest.parameters.map((p) => {
    const field: ConditionField =
      p.kind === "categorical" ? { name: p.name, kind: "categorical", values: p.values, offset, width: p.values.length } : { name: p.name, kind: "scalar", range: p.range, offset, width: 1 };
    offset += field.width;
    return field;
  });
  const { width, height } = manifest.image;
  return modelManifestSchema.parse({
    schema: "rareforge.model/1",
    name: manifest.name,
    version: manifest.version,
    domain: manifest.domain,
    license: manifest.license,
    description: manifest.description,
    files: fileHashes,
    image: { width, height, channels: 3, valueRange: [-1, 1], format: "png-rgb8" },
    latent: { decoder: OPTIMUM_PARTS.vaeDecoder, input: "latent_sample", output: "sample", shape: [exported.latentChannels, height / 8, width / 8], scalingFactor: exported.vaeScalingFactor },
    denoiser: {
      file: OPTIMUM_PARTS.unet,
      inputs: { sample: "sample", timestep: "timestep", condition: "encoder_hidden_states" },
      output: "out_sample",
      timestepDtype: "float32",
      prediction: exported.scheduler.prediction,
      schedule: exported.scheduler.schedule,
    },
    condition: { width: offset, fields, unconditional: new Array<number>(offset).fill(0) },
    labels: manifest.labels,
    defaults: { sampler: exported.scheduler.sampler, ...manifest.defaults },
    provenance: { kind: "optimum-export", schedulerClass: exported.scheduler.className, prompt: manifest.prompt },
  });
}
