// `rareforge generate`: draw parameters for samples 0..N-1 of a scenario, sample them with the model's
// diffusion runtime, write one PNG per sample (record in a text chunk) and records.jsonl.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Command } from "commander";
import { encodeSamplePng, generateSamples, GUIDANCE_RANGE, MAX_STEPS, openModelRuntime, parseSampler, resolveSamplingSettings, SAMPLERS, SAMPLING_QUALITIES, validateRequest, type SamplerName } from "../diffusion/index.ts";
import { parseExecutionProvider, type ExecutionProviderName } from "../runtime/index.ts";
import { loadModelPackageAsync, resolveModelDir } from "../models/index.ts";
import { drawParameters, findLibraryScenario, loadScenarioFile, type ScenarioSpec } from "../scenarios/index.ts";
import { startGenerationProgress } from "./progress.ts";

export interface GenerateOptions {
  scenario: string;
  count: number;
  /** sampler, steps and guidance default to the model's manifest defaults. */
  sampler?: SamplerName;
  steps?: number;
  guidance?: number;
  /** fast: sampler/steps/guidance left out come from the model's `fast` settings (recorded in each record). */
  quality?: string;
  seed: number;
  batch: number;
  ep: ExecutionProviderName;
  out: string;
  /** First sample index (default 0): samples start .. start+count-1. */
  start?: number;
  eta?: number;
  model?: string;
  modelsDir?: string;
  scenariosDir?: string;
  reference?: string;
  strength?: number;
  mask?: string;
  threads?: number;
  /** false: no progress output; otherwise a bar on a terminal, plain lines when stderr is not one. */
  progress?: boolean;
  log?: (message: string) => void;
}

export interface GenerateSummary {
  files: string[];
  recordsFile: string;
  provider: string;
  seconds: number;
  onnxSeconds: number;
}

/** `--model` is a package name (under --models-dir) or, on the command line only, a path to a package directory. */
function modelDirOf(nameOrPath: string, modelsDir: string): string {
  const isPath = isAbsolute(nameOrPath) || nameOrPath.includes("/") || nameOrPath.startsWith(".");
  return isPath ? resolve(nameOrPath) : resolveModelDir(nameOrPath, modelsDir);
}

async function loadScenario(nameOrFile: string, scenariosDir: string): Promise<ScenarioSpec> {
  const isFile = /\.ya?ml$/i.test(nameOrFile) || (existsSync(nameOrFile) && statSync(nameOrFile).isFile());
  return isFile ? loadScenarioFile(nameOrFile) : findLibraryScenario(scenariosDir, nameOrFile);
}

export async function runGenerate(options: GenerateOptions): Promise<GenerateSummary> {
  const started = performance.now();
  const spec = await loadScenario(options.scenario, options.scenariosDir ?? "scenarios");
  const model = await loadModelPackageAsync(modelDirOf(options.model ?? spec.model, options.modelsDir ?? "models"));
  const start = options.start ?? 0;
  if (!Number.isInteger(options.count) || options.count < 1) throw new Error(`--count must be a positive integer, got ${options.count}`);
  const indices = Array.from({ length: options.count }, (_, k) => start + k);
  const parameters = indices.map((index) => drawParameters(spec, options.seed, index));
  const { sampler, steps, guidance, quality } = resolveSamplingSettings(
    { sampler: options.sampler, steps: options.steps, guidance: options.guidance, quality: options.quality, seed: options.seed, batchSize: options.batch },
    { manifest: model.manifest },
  );
  const request = {
    model,
    sampler,
    steps,
    guidance,
    seed: options.seed,
    indices,
    parameters,
    batchSize: options.batch,
    ...(options.eta !== undefined ? { eta: options.eta } : {}),
    ...(options.reference ? { reference: new Uint8Array(readFileSync(options.reference)) } : {}),
    ...(options.strength !== undefined ? { strength: options.strength } : {}),
    ...(options.mask ? { mask: new Uint8Array(readFileSync(options.mask)) } : {}),
    ...(spec.prompt ? { promptTemplate: spec.prompt } : {}),
    // the quality goes into the record only when asked for, as with jobs
    recordExtras: { scenario: { name: spec.name, model: spec.model }, ...(options.quality !== undefined ? { quality } : {}) },
  };
  // refuse bad input (steps, guidance, reference, mask, parameters) before opening any session
  validateRequest(request);
  const runtime = await openModelRuntime(model, {
    ep: options.ep,
    ...(options.threads !== undefined ? { intraOpThreads: options.threads } : {}),
    log: options.log ?? ((m) => process.stderr.write(`rareforge: ${m}\n`)),
  });
  const progress = options.progress === false ? null : startGenerationProgress({ samplesTotal: indices.length, batchSize: options.batch, stream: process.stderr });
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  const lines: string[] = [];
  try {
    const samples = await generateSamples({
      ...request,
      runtime,
      onProgress: (report) => progress?.update(report),
    });
    for (const sample of samples) {
      const png = encodeSamplePng(sample, model.manifest);
      const file = join(out, `${spec.name}-${String(sample.index).padStart(6, "0")}.png`);
      writeFileSync(file, png);
      files.push(file);
      lines.push(
        JSON.stringify({
          file: file.slice(out.length + 1),
          sha256: createHash("sha256").update(png).digest("hex"),
          ...sample.record,
          labels: { boxes: sample.labels.boxes, masks: sample.labels.masks.map((m) => ({ class: m.class, pixels: m.data.reduce((a, b) => a + b, 0) })) },
        }),
      );
    }
  } finally {
    progress?.stop();
    await runtime.dispose();
  }
  const recordsFile = join(out, "records.jsonl");
  writeFileSync(recordsFile, `${lines.join("\n")}\n`);
  return { files, recordsFile, provider: runtime.provider, seconds: (performance.now() - started) / 1000, onnxSeconds: runtime.onnxMillis() / 1000 };
}

function numberOption(name: string, kind: "int" | "float") {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || (kind === "int" && !Number.isInteger(n))) {
      throw new Error(`--${name} must be ${kind === "int" ? "an integer" : "a number"}, got "${value}"`);
    }
    return n;
  };
}

export function registerGenerateCommand(program: Command): void {
  program
    .command("generate")
    .description("generate samples of a scenario: PNGs with their generation record, and records.jsonl")
    .requiredOption("--scenario <name|file.yaml>", "a library scenario name (scenarios/) or a YAML file")
    .option("--count <n>", "number of samples", numberOption("count", "int"), 1)
    .option("--start <index>", "first sample index", numberOption("start", "int"), 0)
    .option("--sampler <name>", `${SAMPLERS.join(" | ")} (default: the model's)`)
    .option("--steps <n>", `denoising steps (1..${MAX_STEPS}; default: the model's)`, numberOption("steps", "int"))
    .option("--guidance <g>", `classifier-free guidance scale (${GUIDANCE_RANGE.join("..")}; default: the model's)`, numberOption("guidance", "float"))
    .option("--quality <quality>", `${SAMPLING_QUALITIES.join(" | ")}: where --sampler, --steps and --guidance left out come from (the model's defaults or its fast settings)`)
    .option("--eta <eta>", "DDIM eta (0 deterministic)", numberOption("eta", "float"))
    .option("--seed <seed>", "request seed; sample i's noise comes from (seed, i)", numberOption("seed", "int"), 0)
    .option("--batch <n>", "samples per batch", numberOption("batch", "int"), 8)
    .option("--ep <provider>", "execution provider: cpu | cuda | webgpu | auto", "auto")
    .option("--threads <n>", "onnxruntime intra-op threads (0 = one per core)", numberOption("threads", "int"))
    .option("--model <name|dir>", "model package (default: the scenario's model)")
    .option("--models-dir <dir>", "where model packages live", "models")
    .option("--scenarios-dir <dir>", "the scenario library", "scenarios")
    .option("--reference <image>", "PNG or JPEG reference for image-to-image / inpainting")
    .option("--strength <s>", "image-to-image strength in (0, 1]", numberOption("strength", "float"))
    .option("--mask <image>", "inpainting mask (white = regenerate), the reference's or the model's size")
    .requiredOption("--out <dir>", "output directory")
    .action(async (raw: Record<string, unknown>) => {
      try {
        const summary = await runGenerate({
          ...(raw as unknown as GenerateOptions),
          ...(raw.sampler !== undefined ? { sampler: parseSampler(String(raw.sampler)) } : {}),
          ep: parseExecutionProvider(String(raw.ep)),
        });
        process.stderr.write(
          `rareforge: wrote ${summary.files.length} PNGs and ${summary.recordsFile} on ${summary.provider} in ${summary.seconds.toFixed(1)} s (${summary.onnxSeconds.toFixed(1)} s in onnxruntime)\n`,
        );
      } catch (error) {
        process.stderr.write(`rareforge generate: ${(error as Error).name}: ${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
