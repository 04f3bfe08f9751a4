// bench/optimum/js-share: the JavaScript share of sampling time with an Optimum export — generateSamples' wall time
// minus the time inside onnxruntime's session.run (text encoder, UNet, VAE decoder), over the wall time — for the
// tiny export (test/fixtures/optimum/tiny-sd: 64x64 images, 8x8 latents, a 0.7 MB UNet), and the same JavaScript
// time set against the UNet time of a comparable-size UNet: the shipped road-hazards denoiser (64x64 RGB images,
// 12 MB), run through the same loop, sampler, steps, guidance and batch. With --export DIR, also the share on a
// larger Optimum export of the same kind (built by `python3 training/optimum/build_tiny_exports.py --bench-out DIR`,
// e.g. 256x256 images, 32x32 latents, a 15 MB UNet; its image size from vae_decoder/config.json's sample_size).
//
//   npx tsx bench/optimum/js-share.ts [--threads 1] [--steps 20] [--batches 1,8] [--repeats 5] [--export DIR]
//     [--out bench/optimum/results-js-share.json]
//
// Each configuration runs a warm-up, then `repeats` timed runs; the median is the figure (best kept too).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSamples, openModelRuntime } from "../../src/diffusion/index.ts";
import { loadModelPackageAsync, type ModelPackage } from "../../src/models/index.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const threads = Number(option("threads", "1"));
const steps = Number(option("steps", "20"));
const batches = option("batches", "1,8").split(",").map(Number);
const repeats = Number(option("repeats", "5"));
const out = option("out", join(root, "bench/optimum/results-js-share.json"));
const exportDir = option("export", "");
const guidance = 7.5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// an export installed as a user installs it: the export unchanged, rareforge.json beside it
const modelsDir = mkdtempSync(join(tmpdir(), "rareforge-bench-optimum-"));
const install = (source: string, name: string, size: number) => {
  cpSync(source, join(modelsDir, name), { recursive: true });
  writeFileSync(join(modelsDir, name, "rareforge.json"), JSON.stringify(benchManifest(name, size)));
  return join(modelsDir, name);
};
const benchManifest = (name: string, size: number) => ({
    schema: "rareforge.optimum/1",
    name,
    version: "bench",
    domain: "automotive",
    license: "Apache-2.0",
    image: { width: size, height: size },
    prompt: { template: "dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}", negative: "blurry, low quality, cartoon, watermark" },
    parameters: [
      { name: "hazard", kind: "categorical", values: ["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"] },
      { name: "timeOfDay", kind: "categorical", values: ["day", "dusk", "night"] },
      { name: "weather", kind: "categorical", values: ["clear", "rain", "fog", "snow"] },
    ],
});

interface Measurement {
  package: string;
  batch: number;
  wallMs: number[];
  onnxMs: number[];
  /** Median over repeats of (wall - onnx) / wall. */
  outsideShare: number;
  /** Median JavaScript milliseconds per denoising step (wall - onnx over steps). */
  jsMsPerStep: number;
  /** Median onnxruntime milliseconds per denoising step. */
  onnxMsPerStep: number;
}

async function measure(model: ModelPackage, batch: number): Promise<Measurement> {
  const runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: threads });
  const parameters = (i: number) => {
    const p: Record<string, string | number> = {};
    for (const f of model.manifest.condition.fields) p[f.name] = f.kind === "categorical" ? f.values[(i % (f.values.length - 1)) + 1]! : (f.range[0] + f.range[1]) / 2;
    return p;
  };
  const indices = Array.from({ length: batch }, (_, i) => i);
  const request = { model, runtime, sampler: "ddim" as const, guidance, seed: 1, indices, parameters: indices.map(parameters), batchSize: batch };
  await generateSamples({ ...request, steps: 2 }); // warm-up
  const wallMs: number[] = [];
  const onnxMs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const before = runtime.onnxMillis();
    const started = performance.now();
    await generateSamples({ ...request, steps });
    wallMs.push(performance.now() - started);
    onnxMs.push(runtime.onnxMillis() - before);
  }
  await runtime.dispose();
  const js = wallMs.map((w, i) => w - onnxMs[i]!);
  return {
    package: model.manifest.name,
    batch,
    wallMs,
    onnxMs,
    outsideShare: median(js.map((j, i) => j / wallMs[i]!)),
    jsMsPerStep: median(js) / steps,
    onnxMsPerStep: median(onnxMs) / steps,
  };
}

const tiny = await loadModelPackageAsync(install(join(root, "test/fixtures/optimum/tiny-sd"), "tiny-sd", 64));
const comparable = await loadModelPackageAsync(join(root, "models/road-hazards"));
const larger = exportDir
  ? await loadModelPackageAsync(install(exportDir, "bench-export", (JSON.parse(readFileSync(join(exportDir, "vae_decoder/config.json"), "utf8")) as { sample_size: number }).sample_size))
  : null;
const rows: Array<{ batch: number; tiny: Measurement; comparable: Measurement; jsShareOfComparableUnet: number; larger: Measurement | null }> = [];
for (const batch of batches) {
  const t = await measure(tiny, batch);
  const c = await measure(comparable, batch);
  const l = larger ? await measure(larger, batch) : null;
  // the tiny export's JavaScript time per step against the comparable UNet's onnxruntime time per step
  const row = { batch, tiny: t, comparable: c, jsShareOfComparableUnet: t.jsMsPerStep / (t.jsMsPerStep + c.onnxMsPerStep), larger: l };
  rows.push(row);
  console.log(
    `batch ${batch}: tiny-sd wall ${median(t.wallMs).toFixed(1)} ms, outside onnxruntime ${(t.outsideShare * 100).toFixed(1)} % (${t.jsMsPerStep.toFixed(3)} ms/step JS); ` +
      `road-hazards UNet ${c.onnxMsPerStep.toFixed(1)} ms/step -> JS share against it ${(row.jsShareOfComparableUnet * 100).toFixed(2)} %` +
      (l ? `; ${exportDir}: wall ${median(l.wallMs).toFixed(1)} ms, outside onnxruntime ${(l.outsideShare * 100).toFixed(2)} % (${l.jsMsPerStep.toFixed(3)} ms/step JS, ${l.onnxMsPerStep.toFixed(1)} ms/step onnxruntime)` : ""),
  );
}
rmSync(modelsDir, { recursive: true, force: true });
const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, node: process.versions.node };
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, loadAverage: loadavg(), threads, steps, guidance, sampler: "ddim", repeats, exportDir: exportDir || null, rows }, null, 2)}\n`);
console.log(`load average: ${loadavg().map((l) => l.toFixed(1)).join(", ")}; wrote ${out}`);
