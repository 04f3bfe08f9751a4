// `rareforge insert-hazard <frame> --box x,y,w,h --hazard animal [--param weather=fog] --out file.png`: inpaints a
// road hazard into a camera frame in this process (no server, no database, like `rareforge generate`) and writes
// the full-resolution PNG (generation record in a text chunk) and its ground truth beside it (<out>.json).
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import type { Command } from "commander";
import { SAMPLERS } from "../diffusion/index.ts";
import { loadConfig } from "../config.ts";
import { DomainError, ValidationError } from "../errors.ts";
import { loadModelPackageAsync, resolveModelDir } from "../models/index.ts";
import { parseExecutionProvider } from "../runtime/index.ts";
import { boxFromPlacement, decodeCameraFrame, DEFAULT_FEATHER, type CameraDescription, type HazardPlacement, DEFAULT_HAZARD_MODEL, hazardLabelOf, insertHazardIntoFrame, InsertionRefusedError, openInsertionRuntime, resolveInsertionSettings } from "../uploads/index.ts";
import { parseBox, parseParamPairs } from "./upload.ts";

export interface InsertHazardOptions {
  box?: string;
  /** `x,distanceM`: stand the hazard on the road (needs --camera). */
  at?: string;
  /** `horizonRow,heightM,focalLengthPx`. */
  camera?: string;
  hazard: string;
  param?: string[];
  model: string;
  modelsDir: string;
  sampler?: string;
  steps?: string;
  guidance?: string;
  seed: string;
  feather: string;
  ep: string;
  threads?: string;
  out: string;
}

function numbers(value: string, count: number, option: string, names: string): number[] {
  const parts = value.split(",").map((part) => Number(part.trim()));
  if (parts.length !== count || parts.some((n) => !Number.isFinite(n))) throw new ValidationError([{ path: option, message: `expected ${names}, got "${value}"` }], "invalid hazard insertion");
  return parts;
}

function boxOption(value: string) {
  const region = parseBox(value);
  if (region.kind !== "box") throw new ValidationError([{ path: "box", message: "--box must be x,y,width,height" }], "invalid hazard insertion");
  const { kind: _kind, ...box } = region;
  return box;
}

const placementOption = (value: string): HazardPlacement => {
  const [x, distanceM] = numbers(value, 2, "at", "x,distanceM (the contact point's column and its distance in metres)");
  return { x: Math.round(x!), distanceM: distanceM! };
};

const cameraOption = (value: string): CameraDescription => {
  const [horizonRow, heightM, focalLengthPx] = numbers(value, 3, "camera", "horizonRow,heightM,focalLengthPx");
  return { horizonRow: horizonRow!, heightM: heightM!, focalLengthPx: focalLengthPx! };
};

export async function runInsertHazard(framePath: string, options: InsertHazardOptions) {
  const bytes = new Uint8Array(readFileSync(framePath));
  if (Boolean(options.box) === Boolean(options.at)) throw new ValidationError([{ path: "box", message: "give exactly one of --box and --at" }], "invalid hazard insertion");
  // RAREFORGE_MAX_IMAGE_PIXELS, as for uploads: the header is checked before the frame is decoded
  const frame = decodeCameraFrame(bytes, loadConfig().maxImagePixels);
  const box = options.box ? boxOption(options.box) : boxFromPlacement(placementOption(options.at!), options.camera ? cameraOption(options.camera) : null, options.hazard, frame);
  let model;
  try {
    model = await loadModelPackageAsync(resolveModelDir(options.model, options.modelsDir));
  } catch (error) {
    throw new InsertionRefusedError("MODEL_UNSUITABLE", `model ${options.model} cannot be loaded: ${(error as Error).message}`);
  }
  hazardLabelOf(model);
  const ep = parseExecutionProvider(options.ep);
  const { settings, feather } = resolveInsertionSettings(
    {
      ...(options.sampler !== undefined ? { sampler: options.sampler } : {}),
      ...(options.steps !== undefined ? { steps: Number(options.steps) } : {}),
      ...(options.guidance !== undefined ? { guidance: Number(options.guidance) } : {}),
      seed: Number(options.seed),
      feather: Number(options.feather),
      executionProvider: ep,
    },
    model,
    ep,
    "invalid hazard insertion",
  );
  const runtime = await openInsertionRuntime(model, settings.executionProvider, ep, Number(options.threads ?? 0));
  try {
    const result = await insertHazardIntoFrame({
      frame,
      frameSha256: createHash("sha256").update(bytes).digest("hex"),
      box,
      parameters: { ...parseParamPairs(options.param), hazard: options.hazard },
      model,
      runtime,
      settings,
      feather,
    });
    writeFileSync(options.out, result.png);
    writeFileSync(`${options.out}.json`, `${JSON.stringify(result.groundTruth, null, 2)}\n`);
    return { ...result, provider: runtime.provider };
  } finally {
    await runtime.dispose();
  }
}

export function registerInsertHazardCommand(program: Command): void {
  program
    .command("insert-hazard")
    .description("inpaint a road hazard into a camera frame (PNG/JPEG) at full resolution; writes the PNG and <out>.json (ground truth)")
    .argument("<frame>", "PNG or JPEG camera frame")
    .option("--box <x,y,w,h>", "the hazard's box in frame pixels (the ground-truth box)")
    .option("--at <x,distance>", "instead of --box: stand the hazard on the road, its contact point at column x and distance metres (needs --camera)")
    .option("--camera <horizonRow,heightM,focalPx>", "the frame's camera for --at: horizon row, height above the road (m), focal length (px)")
    .requiredOption("--hazard <class>", "hazard class, e.g. animal, pedestrian, cone")
    .option("--param <name=value...>", "further condition values, e.g. weather=fog timeOfDay=dusk")
    .option("--model <name>", "automotive model package", DEFAULT_HAZARD_MODEL)
    .option("--models-dir <dir>", "where model packages live", "models")
    .option("--sampler <name>", `${SAMPLERS.join(" | ")} (default: the model's)`)
    .option("--steps <n>", "denoising steps (default: the model's)")
    .option("--guidance <g>", "classifier-free guidance (default: the model's)")
    .option("--seed <n>", "noise seed", "0")
    .option("--feather <px>", "blend band around the box, frame pixels", String(DEFAULT_FEATHER))
    .option("--ep <provider>", "execution provider: cpu | cuda | webgpu | auto", "cpu")
    .option("--threads <n>", "onnxruntime intra-op threads (0 = one per core)")
    .requiredOption("--out <file.png>", "where to write the result")
    .action(async (frame: string, options: InsertHazardOptions) => {
      try {
        const result = await runInsertHazard(frame, options);
        const { x, y, size } = result.window;
        process.stderr.write(
          `rareforge: wrote ${options.out} and ${options.out}.json (${result.groundTruth.class} at ${JSON.stringify(result.groundTruth.box)}; window ${size}x${size} at ${x},${y}) on ${result.provider} in ${(result.timings.totalMillis / 1000).toFixed(2)} s (${(result.timings.onnxMillis / 1000).toFixed(2)} s in onnxruntime)\n`,
        );
      } catch (error) {
        const typed = error instanceof DomainError;
        process.stderr.write(`rareforge insert-hazard: ${typed ? `${(error as Error).name}: ` : ""}${(error as Error).message}\n`);
        process.exitCode = typed ? 2 : 1;
      }
    });
}
