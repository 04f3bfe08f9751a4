// Measured agreement with the PyTorch reference: scheduler goldens, and per package the golden denoiser calls
// and trajectories. Usage: npx tsx bench/sampling/accuracy.ts <packageDir>:<fixtureDir> ...
import { readFileSync } from "node:fs";
import { openConditionRuntime } from "../../src/diffusion/index.ts";
import { createScheduler } from "../../src/diffusion/schedulers/index.ts";
import { loadModelPackage } from "../../src/models/index.ts";
import { denoiserCallErrors, readGolden, trajectoryError } from "../../test/models/golden.ts";
const g = JSON.parse(readFileSync(new URL("../../test/fixtures/schedulers/golden.json", import.meta.url), "utf8"));
let worst = 0, worstCase = "";
for (const c of g.cases) {
  const s = createScheduler(c.sampler, { schedule: g.schedules[c.schedule], prediction: c.prediction, eta: c.eta });
  s.setTimesteps(c.steps);
  let x: Float32Array = Float32Array.from(g.noise, (v: number) => v * s.initNoiseSigma);
  s.timesteps.forEach((t, i) => { const m = s.scaleModelInput(x, t).map((v) => v + 0.05 * Math.sin(3 * v + t / 100)); x = s.step(m, t, x, s.stochastic ? Float32Array.from(g.stepNoise[i]) : undefined).prevSample; });
  const e = Math.max(...Array.from(x, (v, i) => Math.abs(v - c.final[i])));
  if (e > worst) { worst = e; worstCase = `${c.sampler} ${c.prediction} ${c.steps} ${c.schedule}`; }
}
console.log(`schedulers: worst final max abs error ${worst.toExponential(2)} (${worstCase}) over ${g.cases.length} cases`);
for (const dir of process.argv.slice(2)) {
  const [pkgDir, fixDir] = dir.split(":");
  const rt = await openConditionRuntime(loadModelPackage(pkgDir!), { ep: "cpu" });
  const golden = readGolden(fixDir!);
  const calls = await denoiserCallErrors(rt, fixDir!, golden);
  const ddim = await trajectoryError(rt, fixDir!, golden, { sampler: "ddim", steps: golden.ddim.steps, guidance: golden.ddim.guidance, eta: golden.ddim.eta, final: golden.ddim.final });
  const traj = [];
  for (const t of golden.trajectories ?? []) traj.push(`${t.sampler} ${(await trajectoryError(rt, fixDir!, golden, t)).error.toExponential(2)}`);
  console.log(`${golden.model}: denoiser calls max ${Math.max(...calls).toExponential(2)}, DDIM ${golden.ddim.steps}-step ${ddim.error.toExponential(2)}${traj.length ? `, 20-step: ${traj.join(", ")}` : ""}`);
  await rt.dispose();
}
