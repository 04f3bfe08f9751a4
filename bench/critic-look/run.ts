// bench/critic-look: what reading the look at several places costs the realism gate. The shipped road-critic
// (its look read at every look.shifts place, mirrored, confirming the critic's objects) against the same package
// read at one window (mirrored), on one batch of frames and requests, one thread, in the same run: milliseconds per
// judged sample and their ratio.
//
//   node --import tsx bench/critic-look/run.ts [--samples 64] [--rounds 5]
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadCritic } from "../../src/detection/index.ts";

const { values } = parseArgs({ options: { samples: { type: "string", default: "64" }, rounds: { type: "string", default: "5" } } });
const samples = Number(values.samples);
const rounds = Number(values.rounds);
const shipped = fileURLToPath(new URL("../../models/road-critic", import.meta.url));
const oneWindow = mkdtempSync(join(tmpdir(), "critic-one-window-"));
try {
  cpSync(shipped, oneWindow, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(oneWindow, "critic.json"), "utf8")) as { look: Record<string, unknown> };
  manifest.look = { ...manifest.look, shifts: [[0, 0]], confirm: false };
  writeFileSync(join(oneWindow, "critic.json"), JSON.stringify(manifest));
  // deterministic frames; one request in seven asks for no object (confirm reads those where the critic sees one)
  const frames = Array.from({ length: samples }, (_, i) => Float32Array.from({ length: 3 * 64 * 64 }, (_, j) => Math.sin(i * 7 + j) * 0.5));
  const requests = frames.map((_, i) => ({ hazard: i % 7 === 0 ? "none" : "animal", weather: "fog", timeOfDay: "night", hazardCx: 0.3 + (i % 5) * 0.1, hazardCy: 0.6, hazardW: 0.08, hazardH: 0.06 }));
  const perSample: Record<string, number> = {};
  for (const [label, dir] of [["shipped", shipped], ["one window", oneWindow]] as const) {
    const critic = await loadCritic(dir, { intraOpThreads: 1 });
    try {
      await critic.predict(frames, requests); // warm-up
      const started = performance.now();
      for (let round = 0; round < rounds; round++) await critic.predict(frames, requests);
      perSample[label] = (performance.now() - started) / rounds / samples;
    } finally {
      await critic.dispose();
    }
  }
  for (const [label, ms] of Object.entries(perSample)) console.log(`${label.padEnd(11)} ${ms.toFixed(2)} ms per judged sample`);
  console.log(`ratio ${(perSample.shipped! / perSample["one window"]!).toFixed(2)}x (${samples} samples, ${rounds} rounds, one thread)`);
} finally {
  rmSync(oneWindow, { recursive: true, force: true });
}
