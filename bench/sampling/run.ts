// bench/sampling: images per second of each diffusion package at 20 steps, batch 1, 8 and 32 on the CPU,
// next to the same model run by the PyTorch reference (training/reference/bench_torch.py) in the same run
// on the same machine; and the share of wall time spent outside onnxruntime.
//
//   npx tsx bench/sampling/run.ts [--threads 2] [--steps 20] [--batches 1,8,32] [--sampler ddim] [--repeats 3]
//     [--checkpoints training/checkpoints] [--fixtures test/fixtures] [--out bench/sampling/results.json] [package dirs...]
//
// Each side runs a warm-up, then `repeats` timed runs; the median is the figure (best also kept), since
// the machine may be shared.
//
// Without package dirs: every models/*/model.json plus the tiny test packages. Writes bench/sampling/results.json.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSamples, openModelRuntime, parseSampler } from "../../src/diffusion/index.ts";
import { loadModelPackage } from "../../src/models/index.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const args = process.argv.slice(2);
const option = optionReader(args);
const threads = Number(option("threads", "2"));
const steps = Number(option("steps", "20"));
const batches = option("batches", "1,8,32").split(",").map(Number);
const sampler = parseSampler(option("sampler", "ddim"));
const repeats = Number(option("repeats", "3"));
// where the PyTorch side finds shipped models' training checkpoints and golden fixtures
const checkpoints = option("checkpoints", join(root, "training/checkpoints"));
const fixtures = option("fixtures", join(root, "test/fixtures"));
const resultsFile = option("out", join(root, "bench/sampling/results.json"));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const skipTorch = args.includes("--no-torch");
const packageDirs = args.filter((a) => !a.startsWith("--"));
if (packageDirs.length === 0) {
  const models = join(root, "models");
  for (const name of existsSync(models) ? readdirSync(models).sort() : []) {
    if (existsSync(join(models, name, "model.json"))) packageDirs.push(join(models, name));
  }
  packageDirs.push(join(root, "test/fixtures/tiny-model"), join(root, "test/fixtures/tiny-model/latent"));
}

interface Row {
  package: string;
  batch: number;
  onnxImagesPerSecond: number;
  onnxBestImagesPerSecond: number;
  wallSeconds: number[];
  outsideOnnxShare: number;
  torchImagesPerSecond: number | null;
  torchBestImagesPerSecond: number | null;
  ratio: number | null;
  torchGoldenError: number | null;
  torchNote?: string;
}

const rows: Row[] = [];
for (const dir of packageDirs) {
  const model = loadModelPackage(dir);
  const runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: threads });
  const parametersFor = (i: number) => {
    // the first allowed value / the middle of each range: any valid condition costs the same
    const p: Record<string, string | number> = {};
    for (const f of model.manifest.condition.fields) p[f.name] = f.kind === "categorical" ? (f.values[(i % (f.values.length - 1)) + 1] ?? f.values[0]!) : (f.range[0] + f.range[1]) / 2;
    return p;
  };
  for (const batch of batches) {
    const indices = Array.from({ length: batch }, (_, i) => i);
    const request = { model, runtime, sampler, guidance: 3, seed: 1, indices, parameters: indices.map(parametersFor), batchSize: batch };
    await generateSamples({ ...request, steps: 2 }); // warm-up: allocations, kernel selection
    const walls: number[] = [];
    const outside: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const onnxBefore = runtime.onnxMillis();
      const started = performance.now();
      await generateSamples({ ...request, steps });
      const wall = performance.now() - started;
      walls.push(wall / 1000);
      outside.push((wall - (runtime.onnxMillis() - onnxBefore)) / wall);
    }
    const row: Row = {
      package: model.manifest.name,
      batch,
      onnxImagesPerSecond: batch / median(walls),
      onnxBestImagesPerSecond: batch / Math.min(...walls),
      wallSeconds: walls,
      outsideOnnxShare: median(outside),
      torchImagesPerSecond: null,
      torchBestImagesPerSecond: null,
      ratio: null,
      torchGoldenError: null,
    };
    if (!skipTorch) {
      const torch = spawnSync("/usr/bin/python3", [join(root, "training/reference/bench_torch.py"), "--package", dir, "--batch", String(batch), "--steps", String(steps), "--sampler", sampler, "--threads", String(threads), "--repeats", String(repeats), "--checkpoints", checkpoints, "--fixtures", fixtures], { encoding: "utf8" });
      const line = torch.stdout.trim().split("\n").pop() ?? "";
      if (torch.status === 0 && line.startsWith("{")) {
        const result = JSON.parse(line) as { imagesPerSecond: number; bestImagesPerSecond: number; goldenDenoiserError: number | null };
        row.torchImagesPerSecond = result.imagesPerSecond;
        row.torchBestImagesPerSecond = result.bestImagesPerSecond;
        row.ratio = row.onnxImagesPerSecond / result.imagesPerSecond;
        row.torchGoldenError = result.goldenDenoiserError;
      } else {
        row.torchNote = (torch.stderr || torch.stdout).trim().split("\n").pop() ?? "failed";
      }
    }
    rows.push(row);
    const fmt = (v: number | null, d = 1) => (v === null ? "n/a" : v.toFixed(d));
    console.log(
      `${row.package} batch ${batch}: onnxruntime ${fmt(row.onnxImagesPerSecond, 2)} img/s, PyTorch ${fmt(row.torchImagesPerSecond, 2)} img/s, ratio ${fmt(row.ratio, 2)}x, outside onnxruntime ${(row.outsideOnnxShare * 100).toFixed(1)} %${row.torchNote ? ` (torch: ${row.torchNote})` : ""}`,
    );
  }
  await runtime.dispose();
}

const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, node: process.versions.node };
const loadAverage = (await import("node:os")).loadavg();
writeFileSync(resultsFile, `${JSON.stringify({ date: new Date().toISOString(), machine, loadAverage, threads, steps, sampler, guidance: 3, repeats, rows }, null, 2)}\n`);
console.log(`\nload average at the end: ${loadAverage.map((l) => l.toFixed(1)).join(", ")}`);
console.log("\n| package | batch | onnxruntime img/s (median / best) | PyTorch img/s (median / best) | ratio (median) | outside onnxruntime |\n|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.package} | ${r.batch} | ${r.onnxImagesPerSecond.toFixed(2)} / ${r.onnxBestImagesPerSecond.toFixed(2)} | ${r.torchImagesPerSecond?.toFixed(2) ?? "n/a"} / ${r.torchBestImagesPerSecond?.toFixed(2) ?? "n/a"} | ${r.ratio?.toFixed(2) ?? "n/a"}x | ${(r.outsideOnnxShare * 100).toFixed(1)} % |`,
  );
}
