// Markdown tables for BENCHMARKS.md from bench/throughput result files (several runs of one package may be
// given: each keeps its own DDIM-25 baseline and ratio, since only configs of one run are measured alike).
//
//   node --import tsx bench/throughput/table.ts [--peak 218] bench/throughput/results-road-hazards.json [...]
import { readFileSync } from "node:fs";

interface Paired { mean: number; low: number; high: number }
interface Row {
  config: string; steps: number; precision: string; samples: number; samplesPerSecond: number; samplesPerCpuSecond: number; cpuSeconds: number;
  accuracy: Record<string, number>; validShare: number; validPerCpuSecond: number; ratioVsDdim25: number;
  pairedVsDdim25: Record<string, Paired>; achievedGflops: number; flopUtilisation: number;
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
      const gflopsPerCpu = (r.samples * r.steps * 2 * p.flops.flopPerRow) / r.cpuSeconds / 1e9;
      const acc = fields.map((f) => (r.config === "ddim-25" ? pct(r.accuracy[f]!) : `${pct(r.accuracy[f]!)} (${signed(r.pairedVsDdim25[f]!.mean)} [${signed(r.pairedVsDdim25[f]!.low)}, ${signed(r.pairedVsDdim25[f]!.high)}])`));
      console.log(
        `| ${r.config} ${r.precision} | ${r.samplesPerSecond.toFixed(2)} | ${r.samplesPerCpuSecond.toFixed(2)} | ${acc.join(" | ")} | ${pct(r.validShare)} | ${r.validPerCpuSecond.toFixed(2)} | ${r.ratioVsDdim25.toFixed(2)}× | ${gflopsPerCpu.toFixed(0)} (${pct(gflopsPerCpu / peak)} %) |`,
      );
    }
  }
}
