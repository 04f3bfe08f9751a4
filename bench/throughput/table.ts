// Markdown tables for BENCHMARKS.md from bench/throughput result files (several runs of one package may be
// given: each keeps its own DDIM-25 baseline and ratio, since only configs of one run are measured alike; a derived
// int8 package's rows compare with its fp32 base's DDIM-25 of the same run).
//
//   node --import tsx bench/throughput/table.ts [--peak 218] bench/throughput/results-road-hazards.json [...]
import { readFileSync } from "node:fs";

interface Paired { mean: number; low: number; high: number }
interface Row {
  config: string; steps: number; precision: string; samples: number; samplesPerSecond: number; samplesPerCpuSecond: number; cpuSeconds: number;
  accuracy: Record<string, number>; validShare: number; validPerCpuSecond: number; ratioVsDdim25: number;
  pairedVsDdim25: Record<string, Paired>; achievedGflops: number; flopUtilisation: number;
  /** Denoiser rows run (2 per sample and step with guidance, 1 for a guidance-distilled denoiser). */
  rows?: number;
  /** Derived (int8, distilled) packages run after their fp32 root base: against the root's DDIM-25. */
  vsFp32Ddim25?: { ratio: number; paired: Record<string, Paired> };
}
interface Results {
  started: string; command: string; loadAverage: { before: number[]; after: number[] };
  machine: { peakGflopsPerCore: number; measured?: { peakGflops: number } | null };
  packages: { package: string; precision: string; requests: number; flops: { flopPerRow: number }; rows: Row[] }[];
}

const pct = (v: number) => (100 * v).toFixed(1);
const signed = (v: number) => `${v >= 0 ? "+" : "−"}${pct(Math.abs(v))}`;
// --peak G: one core's peak GFLOP/s measured apart (bench/throughput/peak.c), for result files written before
// run.ts measured it
const args = process.argv.slice(2);
const peakAt = args.indexOf("--peak");
const givenPeak = peakAt >= 0 ? Number(args.splice(peakAt, 2)[1]) : null;
for (const file of args) {
  const results = JSON.parse(readFileSync(file, "utf8")) as Results;
  const peak = givenPeak ?? results.machine.measured?.peakGflops ?? results.machine.peakGflopsPerCore;
  for (const p of results.packages) {
    const fields = Object.keys(p.rows[0]!.accuracy).filter((f) => f !== "all");
    console.log(`\n${p.package} (${p.precision}), ${p.requests} samples per config, ${results.started.slice(0, 16).replace("T", " ")} UTC, load ${results.loadAverage.before.map((l) => l.toFixed(1)).join("/")} → ${results.loadAverage.after.map((l) => l.toFixed(1)).join("/")} (\`${results.command}\`)\n`);
    console.log(`| config | samples/s (wall) | samples/CPU-s | ${fields.map((f) => `${f} % (Δ vs DDIM-25, 95 % CI)`).join(" | ")} | valid % | valid/CPU-s | × DDIM-25 | GFLOP/CPU-s (of peak) |`);
    console.log(`|---|---|---|${fields.map(() => "---|").join("")}---|---|---|---|`);
    for (const r of p.rows) {
      const gflopsPerCpu = ((r.rows ?? r.samples * r.steps * 2) * p.flops.flopPerRow) / r.cpuSeconds / 1e9;
      // a derived package is compared with its fp32 base's DDIM-25, every row of it
      const paired = r.vsFp32Ddim25?.paired ?? (r.config === "ddim-25" ? null : r.pairedVsDdim25);
      const ratio = r.vsFp32Ddim25?.ratio ?? r.ratioVsDdim25;
      const acc = fields.map((f) => (paired ? `${pct(r.accuracy[f]!)} (${signed(paired[f]!.mean)} [${signed(paired[f]!.low)}, ${signed(paired[f]!.high)}])` : pct(r.accuracy[f]!)));
      console.log(
        `| ${r.config} ${r.precision} | ${r.samplesPerSecond.toFixed(2)} | ${r.samplesPerCpuSecond.toFixed(2)} | ${acc.join(" | ")} | ${pct(r.validShare)} | ${r.validPerCpuSecond.toFixed(2)} | ${ratio.toFixed(2)}× | ${gflopsPerCpu.toFixed(0)} (${pct(gflopsPerCpu / peak)} %) |`,
      );
    }
  }
}
