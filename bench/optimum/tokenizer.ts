// bench/optimum/tokenizer: what CLIP tokenisation (src/diffusion/optimum/tokenizer.ts) costs a worker —
// loading an SD 1.x tokenizer/ (CLIP's 49,408-entry vocabulary, 48,894 merges) — wall time and the longest
// event-loop stall inside it — and tokenising prompts to 77 input_ids, cold (a fresh tokenizer, empty word
// cache) and warm.
//
//   npx tsx bench/optimum/tokenizer.ts [--repeats 5] [--clip ../shared/data/tokenizers/clip] [--out bench/optimum/results-tokenizer.json]
//
// Prompts: the 510 of test/fixtures/optimum/clip-token-ids.json. Median of `repeats` runs (best kept too).
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadClipTokenizer } from "../../src/diffusion/optimum/tokenizer.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const repeats = Number(option("repeats", "5"));
const clipDir = option("clip", join(root, "../shared/data/tokenizers/clip"));
const out = option("out", join(root, "bench/optimum/results-tokenizer.json"));

const prompts = (JSON.parse(readFileSync(join(root, "test/fixtures/optimum/clip-token-ids.json"), "utf8")) as { clip: { prompt: string }[] }).clip.map((c) => c.prompt);
const dir = mkdtempSync(join(tmpdir(), "rareforge-bench-tokenizer-"));
for (const file of ["vocab.json", "merges.txt"]) symlinkSync(join(clipDir, file), join(dir, file));
writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "CLIPTokenizer", model_max_length: 77, pad_token: "<|endoftext|>" }));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const loadMs: number[] = [];
const stallMs: number[] = [];
const loadCpuMs: number[] = [];
const coldPromptUs: number[] = [];
const warmPromptUs: number[] = [];
const loadAverage = loadavg()[0]!;
for (let r = 0; r < repeats; r++) {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let t = performance.now();
  const cpu = process.cpuUsage();
  const tokenizer = await loadClipTokenizer(dir);
  loadMs.push(performance.now() - t);
  const used = process.cpuUsage(cpu);
  loadCpuMs.push((used.user + used.system) / 1000); // CPU time: less sensitive than wall time to a shared machine
  delay.disable();
  stallMs.push(delay.max / 1e6); // the longest time the event loop could not run a callback during the load
  t = performance.now();
  for (const p of prompts) tokenizer.tokenize(p);
  coldPromptUs.push(((performance.now() - t) * 1000) / prompts.length);
  t = performance.now();
  for (let k = 0; k < 5; k++) for (const p of prompts) tokenizer.tokenize(p);
  warmPromptUs.push(((performance.now() - t) * 1000) / (5 * prompts.length));
}
rmSync(dir, { recursive: true, force: true });
const results = {
  date: new Date().toISOString(),
  machine: `${cpus().length} x ${cpus()[0]?.model}`,
  node: process.version,
  loadAverageAtStart: loadAverage,
  prompts: prompts.length,
  repeats,
  loadMs: { median: median(loadMs), best: Math.min(...loadMs), all: loadMs },
  loadCpuMs: { median: median(loadCpuMs), best: Math.min(...loadCpuMs), all: loadCpuMs },
  longestEventLoopStallDuringLoadMs: { median: median(stallMs), worst: Math.max(...stallMs), all: stallMs },
  coldMicrosecondsPerPrompt: { median: median(coldPromptUs), best: Math.min(...coldPromptUs) },
  warmMicrosecondsPerPrompt: { median: median(warmPromptUs), best: Math.min(...warmPromptUs) },
};
writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
console.log(`load ${results.loadMs.median.toFixed(1)} ms (best ${results.loadMs.best.toFixed(1)}; CPU ${results.loadCpuMs.median.toFixed(1)} ms), longest event-loop stall ${results.longestEventLoopStallDuringLoadMs.median.toFixed(1)} ms (worst ${results.longestEventLoopStallDuringLoadMs.worst.toFixed(1)}); tokenize cold ${results.coldMicrosecondsPerPrompt.median.toFixed(1)} µs/prompt, warm ${results.warmMicrosecondsPerPrompt.median.toFixed(1)} µs/prompt; ${prompts.length} prompts, ${repeats} repeats, load average ${loadAverage.toFixed(2)}`);
