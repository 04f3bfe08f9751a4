// bench/throughput (issue 22): valid samples per CPU-second at a stated judged accuracy, per package and per
// sampler / steps / precision, next to FLOP utilisation.
//
//   node --import tsx bench/throughput/run.ts [--configs ddim:25,dpmpp-2m:6,...] [--root-configs ddim:25] [--samplers ddim,dpmpp-2m,euler]
//     [--steps 4,5,6,8,10,15] [--per-cell 3] [--per-value 48] [--seed 22] [--quick] [--out bench/throughput/results.json]
//     [--dry-run] [package dirs...]                       (default: models/road-hazards models/brain-mri)
//
// A derived package (int8 or guidance-distilled, or int8 of distilled: `derivedFrom` in its model.json) given after its
// fp32 root base in the same run is also compared with the root's DDIM-25 (vsFp32Ddim25: ratio and paired differences;
// same requests, same seeds). A guidance-distilled denoiser runs one row per step (denoiser.distilledGuidance).
//
// Requests: every combination of the package's categorical fields (road-hazards: hazard x weather x timeOfDay,
// 84 cells; brain-mri: pathology, 4) times --per-cell (road) / --per-value (single-field packages) samples.
// The scalar fields (box, lesion centre, radius, contrast) are drawn as the scenario library draws them: from the
// library scenarios for this model that can ask for the cell's object class, in turn, with the cell's
// categorical values put over what they drew (training/evaluate.py --library does the same). Every config
// generates the same requests with the same seed (so the same initial noise): accuracy differences are paired.
//
// Timing: onnxruntime on 1 intra-op thread, batch 8, guidance at the manifest's default. For each batch of 8
// requests every config runs in turn (the order rotating by batch), so load drift from other processes on the
// shared machine hits every config alike. CPU time is process.cpuUsage() (user + system, every thread) around
// generateSamples only; judging is not timed. The load average is recorded before and after.
//
// Judging: the domain's critic (models/*-critic, src/detection/critic.ts) reads every sample; accuracy per
// categorical field is the share where the critic reads the requested value; "all" is the share with every
// categorical field right. Valid = the product's realism gate (judgeRealism, default thresholds — the service's
// defaults) lets the sample through. Valid samples per CPU-second = valid samples / generation CPU seconds.
//
// FLOP utilisation: denoiser FLOP per row (bench/throughput/flops.ts) x rows / onnxruntime seconds (wall time
// inside session.run) and / process CPU seconds, over one core's peak: measured by bench/throughput/peak.c (clock
// from a dependent add chain, peak from 12 chains of 512-bit FMAs) when gcc is there, else the nominal one
// (cpuPeak below: vector width and FMA pipes from the CPU family, clock from the TSC, which is not the core clock
// under load). On a shared machine the CPU-second figure is the fair one.
// bench/throughput/table.ts prints the BENCHMARKS.md tables from the results files.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSamples, openConditionRuntime, parseSampler, type SamplerName } from "../../src/diffusion/index.ts";
import { findCriticPackage, loadCritic, type Critic } from "../../src/detection/index.ts";
import { loadModelPackage, type ModelManifest } from "../../src/models/index.ts";
import { drawParameters, drawableValues, loadScenarioLibrary, type ScenarioSpec } from "../../src/scenarios/index.ts";
import { countDenoiserFlops } from "./flops.ts";
import { categoricalFields, judgeSamples } from "../judge.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const args = process.argv.slice(2);
const option = optionReader(args);
const quick = args.includes("--quick");
const dryRun = args.includes("--dry-run"); // print the requests and stop
const samplers = option("samplers", "ddim,dpmpp-2m,euler").split(",").map(parseSampler);
const stepsList = option("steps", quick ? "5" : "4,5,6,8,10,15").split(",").map(Number);
const configsOption = option("configs", "");
const rootConfigsOption = option("root-configs", "");
const perCell = Number(option("per-cell", quick ? "1" : "3"));
const perValue = Number(option("per-value", quick ? "8" : "48"));
const seed = Number(option("seed", "22"));
const batchSize = 8;
const resultsFile = option("out", join(root, quick ? "bench/throughput/results-quick.json" : "bench/throughput/results.json"));
const packageDirs = args.filter((a) => !a.startsWith("--"));
if (packageDirs.length === 0) packageDirs.push(join(root, "models/road-hazards"), join(root, "models/brain-mri"));

interface Config {
  readonly sampler: SamplerName;
  readonly steps: number;
}
const BASELINE: Config = { sampler: "ddim", steps: 25 };
const configName = (c: Config) => `${c.sampler}-${c.steps}`;
function parseConfigs(text: string): Config[] {
  return text.split(",").map((c) => {
    const [sampler = "", steps = ""] = c.split(":");
    return { sampler: parseSampler(sampler), steps: Number(steps) };
  });
}
const configs: Config[] = configsOption ? parseConfigs(configsOption) : samplers.flatMap((sampler) => stepsList.map((steps) => ({ sampler, steps })));
if (!configs.some((c) => configName(c) === configName(BASELINE))) configs.unshift(BASELINE);
// --root-configs: the configs an fp32 root package runs when derived packages follow it (default: --configs); its
// DDIM-25 is always among them, since the derived packages are compared with it
const rootConfigs: Config[] = rootConfigsOption ? parseConfigs(rootConfigsOption) : configs;
if (!rootConfigs.some((c) => configName(c) === configName(BASELINE))) rootConfigs.unshift(BASELINE);

// ---- the machine -----------------------------------------------------------------------------------------
/**
 * Peak fp32 FLOP/s of one core. Vector width and FMA pipes by AMD family (cpuinfo "cpu family"): Zen 4 (25)
 * runs AVX-512 as two 256-bit halves on 2 FMA pipes = 2 x 8 lanes x 2 FLOP = 32 FLOP/cycle; Zen 5 EPYC (26)
 * has a full 512-bit datapath on 2 FMA pipes = 2 x 16 x 2 = 64 FLOP/cycle; otherwise AVX-512 (16 lanes) or
 * AVX2 (8 lanes) on 2 FMA pipes. Clock: the guest sees no cpufreq, so the TSC rate (cpuinfo "cpu MHz", which
 * on this VM equals BogoMIPS / 2) stands for the clock; the part may boost above it, so the peak is a floor
 * and the utilisation a ceiling on that count. Stated with every figure.
 */
function cpuPeak() {
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(info)?.[1]?.trim() ?? "";
  const family = Number(field("cpu family"));
  const flags = field("flags").split(/\s+/);
  const vendor = field("vendor_id");
  const mhz = Number(field("cpu MHz"));
  const avx512 = flags.includes("avx512f");
  let flopPerCycle: number;
  let why: string;
  if (vendor === "AuthenticAMD" && family === 25 && avx512) [flopPerCycle, why] = [32, "Zen 4 (family 25): AVX-512 as 2 x 256-bit, 2 FMA pipes: 2 x 8 lanes x 2 FLOP"];
  else if (vendor === "AuthenticAMD" && family === 26 && avx512) [flopPerCycle, why] = [64, "Zen 5 EPYC (family 26): full 512-bit datapath, 2 FMA pipes: 2 x 16 lanes x 2 FLOP"];
  else if (avx512) [flopPerCycle, why] = [64, "AVX-512, assumed 2 FMA pipes: 2 x 16 lanes x 2 FLOP"];
  else [flopPerCycle, why] = [32, "AVX2 + FMA, 2 FMA pipes: 2 x 8 lanes x 2 FLOP"];
  return {
    model: field("model name"),
    vendor,
    family,
    model_number: Number(field("model")),
    cores: cpus().length,
    avx512,
    clockMHz: mhz,
    clockSource: "/proc/cpuinfo cpu MHz (TSC rate; no cpufreq in the guest)",
    flopPerCycle,
    flopPerCycleWhy: why,
    peakGflopsPerCore: (flopPerCycle * mhz) / 1000,
  };
}

/** The measured clock and FMA peak of one core (bench/throughput/peak.c), or null without gcc / AVX-512. */
function measuredPeak(): { clockMHz: number; peakGflops: number; flopPerCycle: number; command: string } | null {
  const binary = join(tmpdir(), `rf-peak-${process.pid}`);
  const command = `gcc -O3 -mavx512f -o ${binary} bench/throughput/peak.c && ${binary}`;
  const built = spawnSync("gcc", ["-O3", "-mavx512f", "-o", binary, join(root, "bench/throughput/peak.c")], { encoding: "utf8" });
  if (built.status !== 0) return null;
  const ran = spawnSync(binary, { encoding: "utf8" });
  rmSync(binary, { force: true });
  if (ran.status !== 0) return null;
  const { clockMHz, peakGflops, flopPerCycle } = JSON.parse(ran.stdout) as { clockMHz: number; peakGflops: number; flopPerCycle: number };
  return { clockMHz, peakGflops, flopPerCycle, command };
}

// ---- the requests ----------------------------------------------------------------------------------------
type Parameters = Record<string, string | number>;

/** Every categorical cell x `count`, scalars drawn by the library scenarios that can ask for the cell's class. */
function requestsFor(manifest: ModelManifest, modelName: string, library: readonly ScenarioSpec[]): Parameters[] {
  const categorical = manifest.condition.fields.filter((f) => f.kind === "categorical");
  const classField = manifest.labels[0]?.class ?? categorical[0]?.name;
  let cells: Parameters[] = [{}];
  for (const field of categorical) cells = cells.flatMap((cell) => field.values.map((value) => ({ ...cell, [field.name]: value })));
  const count = categorical.length > 1 ? perCell : perValue;
  const specs = library.filter((s) => s.model === modelName);
  const names = new Set(manifest.condition.fields.map((f) => f.name));
  const requests: Parameters[] = [];
  cells.forEach((cell, c) => {
    const wanted = classField ? cell[classField] : undefined;
    const sources = specs.filter((s) => {
      const d = classField ? s.parameters[classField] : undefined;
      return d ? (drawableValues(d) ?? []).includes(wanted as string) : false;
    });
    for (let j = 0; j < count; j++) {
      const spec = sources[j % Math.max(1, sources.length)];
      const drawn: Parameters = {};
      if (spec) for (const [k, v] of Object.entries(drawParameters(spec, seed, c * count + j))) if (names.has(k)) drawn[k] = v as string | number;
      for (const f of manifest.condition.fields) {
        // a class no scenario asks for: its scalars at the middle of their ranges
        if (f.kind === "scalar" && !(f.name in drawn)) drawn[f.name] = (f.range[0] + f.range[1]) / 2;
      }
      requests.push({ ...drawn, ...cell });
    }
  });
  return requests;
}

/**
 * A package's chain of bases (model.json `derivedFrom`, each base a sibling directory): the root's name and the
 * derivation methods from the root down (road-hazards-distilled-int8: road-hazards, [guidance-distillation,
 * qdq-int8-static]).
 */
function lineage(dir: string): { root: string; methods: string[] } {
  const methods: string[] = [];
  const seen = new Set<string>();
  let manifest = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as Pick<ModelManifest, "name" | "derivedFrom">;
  while (manifest.derivedFrom && !seen.has(manifest.name)) {
    seen.add(manifest.name);
    methods.unshift(manifest.derivedFrom.method);
    const parent = join(dirname(dir), manifest.derivedFrom.name, "model.json");
    if (!existsSync(parent)) return { root: manifest.derivedFrom.name, methods };
    manifest = JSON.parse(readFileSync(parent, "utf8")) as Pick<ModelManifest, "name" | "derivedFrom">;
  }
  return { root: manifest.name, methods };
}

// ---- statistics -----------------------------------------------------------------------------------------
/** Mean and 95 % normal interval of paired differences (same request, same seed, two configs). */
function pairedDifference(a: readonly boolean[], b: readonly boolean[]) {
  const d = a.map((x, i) => Number(x) - Number(b[i]));
  const n = d.length;
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const variance = d.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, n - 1);
  const half = 1.96 * Math.sqrt(variance / n);
  return { mean, low: mean - half, high: mean + half, discordant: d.filter((v) => v !== 0).length };
}

// ---- the run --------------------------------------------------------------------------------------------
interface Judged {
  correct: Record<string, boolean[]>;
  valid: boolean[];
}

const machine = { ...cpuPeak(), measured: measuredPeak() };
const loadBefore = loadavg();
const library = (await loadScenarioLibrary(join(root, "scenarios"))).map((e) => e.spec);
const started = new Date().toISOString();
const packages = [];
// DDIM-25 of each fp32 package in this run, by model name: a derived package (int8) of the same model, given after it,
// ran the same requests with the same seeds, so it is paired against this baseline too
const fp32Baselines = new Map<string, { judged: Judged; validPerCpuSecond: number }>();
for (const dir of packageDirs.map((d) => resolve(d))) {
  const model = loadModelPackage(dir);
  if (model.kind !== "condition") throw new Error(`${dir}: only condition-vector packages are benchmarked here`);
  const manifest = model.manifest;
  // a derived package (int8, distilled, int8 of distilled) makes its root base's images another way: the root's
  // critic, requests and baseline
  const { root: baseName, methods } = lineage(dir);
  const precision = methods.length > 0 ? methods.join("+") : "fp32";
  const criticDir = findCriticPackage(dirname(dir), baseName) ?? findCriticPackage(join(root, "models"), baseName);
  if (!criticDir) throw new Error(`no critic for ${baseName} next to ${dir} or in models/`);
  const critic: Critic = await loadCritic(criticDir, { intraOpThreads: 1 });
  const runtime = await openConditionRuntime(model, { ep: "cpu", intraOpThreads: 1 });
  const guidance = manifest.defaults.guidance ?? 3;
  const requests = requestsFor(manifest, baseName, library);
  if (dryRun) {
    console.log(`${manifest.name}: ${requests.length} requests, e.g. ${JSON.stringify(requests.slice(0, 3))}`);
    continue;
  }
  const plane = manifest.image.channels * manifest.image.height * manifest.image.width;
  const flops = await countDenoiserFlops(model.denoiserPath, {
    [manifest.denoiser.inputs.sample]: { type: "float32", data: new Float32Array(plane), dims: [1, manifest.image.channels, manifest.image.height, manifest.image.width] },
    [manifest.denoiser.inputs.timestep]: { type: "float32", data: new Float32Array([500]), dims: [1] },
    [manifest.denoiser.inputs.condition]: { type: "float32", data: new Float32Array(manifest.condition.width), dims: [1, manifest.condition.width] },
  });
  const categorical = categoricalFields(critic);
  const packageConfigs = precision === "fp32" ? rootConfigs : configs;
  const tally = new Map<string, { cpuSeconds: number; wallSeconds: number; onnxSeconds: number; rows: number; judged: Judged }>();
  for (const c of packageConfigs) tally.set(configName(c), { cpuSeconds: 0, wallSeconds: 0, onnxSeconds: 0, rows: 0, judged: { correct: Object.fromEntries(categorical.map((f) => [f, []])), valid: [] } });
  console.log(`${manifest.name} (${precision}): ${requests.length} requests x ${packageConfigs.length} configs, critic ${basename(criticDir)}, ${(flops.flopPerRow / 1e9).toFixed(3)} GFLOP per denoiser row`);
  // warm-up: allocations and kernel selection, not timed
  await generateSamples({ model, runtime, sampler: "ddim", steps: 2, guidance, seed, indices: [0], parameters: [requests[0]!], batchSize });
  const batches = Math.ceil(requests.length / batchSize);
  for (let b = 0; b < batches; b++) {
    const indices = Array.from({ length: Math.min(batchSize, requests.length - b * batchSize) }, (_, i) => b * batchSize + i);
    const parameters = indices.map((i) => requests[i]!);
    for (let k = 0; k < packageConfigs.length; k++) {
      const config = packageConfigs[(b + k) % packageConfigs.length]!;
      const t = tally.get(configName(config))!;
      const onnxBefore = runtime.onnxMillis();
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const samples = await generateSamples({ model, runtime, sampler: config.sampler, steps: config.steps, guidance, seed, indices, parameters, batchSize });
      const wall = performance.now() - wallBefore;
      const cpu = process.cpuUsage(cpuBefore);
      t.cpuSeconds += (cpu.user + cpu.system) / 1e6;
      t.wallSeconds += wall / 1000;
      t.onnxSeconds += (runtime.onnxMillis() - onnxBefore) / 1000;
      t.rows += indices.length * config.steps * (guidance === 1 || manifest.denoiser.distilledGuidance !== undefined ? 1 : 2);
      (await judgeSamples(critic, samples.map((s) => s.image.data), parameters)).forEach((judged) => {
        for (const f of categorical) t.judged.correct[f]!.push(judged.correct[f]!);
        t.judged.valid.push(judged.verdict.valid);
      });
    }
    if (b % 4 === 3 || b === batches - 1) console.log(`  batch ${b + 1}/${batches}, load ${loadavg()[0]!.toFixed(2)}`);
  }
  const base = tally.get(configName(BASELINE))!;
  // the measured peak when there is one; the nominal one (TSC clock) otherwise
  const peak = machine.measured?.peakGflops ?? machine.peakGflopsPerCore;
  const all = (j: Judged) => j.valid.map((_, i) => categorical.every((f) => j.correct[f]![i]));
  const share = (v: readonly boolean[]) => v.filter(Boolean).length / v.length;
  const baseValidPerCpu = base.judged.valid.filter(Boolean).length / base.cpuSeconds;
  const rows = packageConfigs.map((c) => {
    const t = tally.get(configName(c))!;
    const n = t.judged.valid.length;
    const validPerCpuSecond = t.judged.valid.filter(Boolean).length / t.cpuSeconds;
    // per second inside session.run (wall: on a shared machine it includes time the thread waited for a core),
    // and per process CPU-second (what the core actually spent, everything in generateSamples included)
    const achievedGflops = (t.rows * flops.flopPerRow) / t.onnxSeconds / 1e9;
    const gflopsPerCpuSecond = (t.rows * flops.flopPerRow) / t.cpuSeconds / 1e9;
    return {
      config: configName(c),
      sampler: c.sampler,
      steps: c.steps,
      precision,
      guidance,
      samples: n,
      samplesPerSecond: n / t.wallSeconds,
      samplesPerCpuSecond: n / t.cpuSeconds,
      cpuSeconds: t.cpuSeconds,
      wallSeconds: t.wallSeconds,
      onnxShareOfWall: t.onnxSeconds / t.wallSeconds,
      accuracy: { ...Object.fromEntries(categorical.map((f) => [f, share(t.judged.correct[f]!)])), all: share(all(t.judged)) },
      validShare: share(t.judged.valid),
      validPerCpuSecond,
      ratioVsDdim25: validPerCpuSecond / baseValidPerCpu,
      pairedVsDdim25: {
        ...Object.fromEntries(categorical.map((f) => [f, pairedDifference(t.judged.correct[f]!, base.judged.correct[f]!)])),
        all: pairedDifference(all(t.judged), all(base.judged)),
        valid: pairedDifference(t.judged.valid, base.judged.valid),
      },
      rows: t.rows,
      achievedGflops,
      flopUtilisation: achievedGflops / peak,
      gflopsPerCpuSecond,
      flopUtilisationPerCpuSecond: gflopsPerCpuSecond / peak,
    };
  });
  if (precision === "fp32") fp32Baselines.set(baseName, { judged: base.judged, validPerCpuSecond: baseValidPerCpu });
  const fp32 = precision === "fp32" ? undefined : fp32Baselines.get(baseName);
  const rowsVsFp32 = rows.map((r) => {
    if (!fp32) return r;
    const t = tally.get(r.config)!;
    return {
      ...r,
      vsFp32Ddim25: {
        ratio: r.validPerCpuSecond / fp32.validPerCpuSecond,
        paired: {
          ...Object.fromEntries(categorical.map((f) => [f, pairedDifference(t.judged.correct[f]!, fp32.judged.correct[f]!)])),
          all: pairedDifference(all(t.judged), all(fp32.judged)),
          valid: pairedDifference(t.judged.valid, fp32.judged.valid),
        },
      },
    };
  });
  packages.push({ package: manifest.name, version: manifest.version, denoiserSha256: model.fileHashes[manifest.denoiser.file], dir, precision, critic: basename(criticDir), requests: requests.length, flops, rows: rowsVsFp32 });
  await runtime.dispose();
  await critic.dispose();
  const pct = (v: number) => (100 * v).toFixed(1);
  console.log(`\n${manifest.name} (${precision}), ${requests.length} samples per config\n| config | samples/s | ${categorical.join(" | ")} | all | valid | valid/CPU-s | × DDIM-25 | Δall vs DDIM-25 (95 % CI) | GFLOP/s | util |`);
  for (const r of rows) {
    const acc = r.accuracy as Record<string, number>;
    const d = r.pairedVsDdim25.all;
    console.log(
      `| ${r.config} ${precision} | ${r.samplesPerSecond.toFixed(2)} | ${categorical.map((f) => pct(acc[f]!)).join(" | ")} | ${pct(acc.all!)} | ${pct(r.validShare)} | ${r.validPerCpuSecond.toFixed(3)} | ${r.ratioVsDdim25.toFixed(2)} | ${pct(d.mean)} [${pct(d.low)}, ${pct(d.high)}] | ${r.achievedGflops.toFixed(1)} | ${pct(r.flopUtilisation)} % |`,
    );
  }
}
const loadAfter = loadavg();
writeFileSync(
  resultsFile,
  `${JSON.stringify({ started, finished: new Date().toISOString(), command: `node --import tsx bench/throughput/run.ts ${process.argv.slice(2).join(" ")}`.trim(), machine, node: process.versions.node, loadAverage: { before: loadBefore, after: loadAfter }, threads: 1, batchSize, seed, configs: configs.map(configName), rootConfigs: rootConfigs.map(configName), packages }, null, 2)}\n`,
);
console.log(`\nload average before ${loadBefore.map((l) => l.toFixed(2)).join(", ")}, after ${loadAfter.map((l) => l.toFixed(2)).join(", ")}; peak ${machine.peakGflopsPerCore.toFixed(1)} GFLOP/s per core (${machine.flopPerCycleWhy} at ${machine.clockMHz} MHz); wrote ${resultsFile}`);
if (!existsSync(resultsFile)) process.exitCode = 1;
