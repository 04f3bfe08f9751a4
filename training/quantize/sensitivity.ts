// Which convolutions to keep in float, by measurement: for each Conv of the denoiser, a model with that Conv alone
// quantized (quantize.py build --float <all the others>) is run on in-distribution inputs — what the fp32 sampler
// feeds its denoiser at steps 1, 13 and 25 of DDIM 25 with guidance, 4 samples of the condition grid (seed 2202) —
// and its output compared with fp32's. Also the whole model with the chosen --float set.
//
//   npx tsx training/quantize/sensitivity.ts road-hazards training/quantize/road-hazards-ranges.json training/reports/int8-road-hazards-sensitivity.json [--stat p9999] [--float first,last]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createScheduler, denoiseBatch, openConditionRuntime, SampleNoise } from "../../src/diffusion/index.ts";
import { encodeCondition, loadModelPackage } from "../../src/models/index.ts";
import { createSession, type OnnxSession, type TensorInput } from "../../src/runtime/index.ts";
import { cellGrid } from "./cells.ts";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { stat: { type: "string", default: "p9999" }, float: { type: "string", default: "first,last" } } });
const [packageName, ranges, out] = positionals;
if (!packageName || !ranges || !out) throw new Error("usage: sensitivity.ts <package> <ranges.json> <out.json> [--stat p9999] [--float first,last]");
const model = loadModelPackage(`models/${packageName}`);
const manifest = model.manifest;
const python = (...args: string[]) => execFileSync("/usr/bin/python3", ["training/quantize/quantize.py", ...args], { encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "int8-sensitivity-"));
try {
  // 1. in-distribution inputs from the fp32 sampler
  const fp32 = await openConditionRuntime(model, { ep: "cpu", intraOpThreads: 1 });
  const grid = cellGrid(manifest, 1, 2202).filter((_, i, all) => i % Math.ceil(all.length / 4) === 0).slice(0, 4);
  const conditions = new Float32Array(grid.length * manifest.condition.width);
  grid.forEach((s, b) => conditions.set(encodeCondition(manifest, s.parameters), b * manifest.condition.width));
  const inputs: Readonly<Record<string, TensorInput>>[] = [];
  let step = 0;
  const capturing: OnnxSession = Object.assign(Object.create(fp32.denoiser) as OnnxSession, {
    async run(feeds: Readonly<Record<string, TensorInput>>) {
      if ([0, 12, 24].includes(step++)) inputs.push(feeds);
      return fp32.denoiser.run(feeds);
    },
  });
  const scheduler = createScheduler("ddim", { schedule: manifest.denoiser.schedule, prediction: manifest.denoiser.prediction, eta: 0 });
  await denoiseBatch({ runtime: { ...fp32, denoiser: capturing }, scheduler, steps: 25, guidance: manifest.defaults.guidance ?? 3, conditions, noise: grid.map((_, b) => new SampleNoise(2202, b)) });
  const reference = [];
  for (const feeds of inputs) reference.push((await fp32.denoiser.run(feeds))[manifest.denoiser.output]!.data);
  await fp32.dispose();

  /** Mean |int8 - fp32| per captured call (steps 1, 13, 25) and max over them. */
  const errors = async (file: string) => {
    const session = await createSession(file, { ep: "cpu", intraOpThreads: 1 });
    const means: number[] = [];
    let max = 0;
    for (const [k, feeds] of inputs.entries()) {
      const q = (await session.run(feeds))[manifest.denoiser.output]!.data;
      const f = reference[k]!;
      let sum = 0;
      for (let i = 0; i < q.length; i++) {
        const d = Math.abs((q[i] ?? 0) - (f[i] ?? 0));
        sum += d;
        if (d > max) max = d;
      }
      means.push(Number((sum / q.length).toPrecision(3)));
    }
    await session.dispose();
    return { meanPerStep: means, max: Number(max.toPrecision(3)) };
  };

  // 2. one Conv quantized at a time
  const calib = join(dir, "calibration.onnx");
  python("expose", packageName, calib);
  const convs = (JSON.parse(readFileSync(`${calib}.tensors.json`, "utf8")) as { convs: { node: string }[] }).convs.map((c) => c.node);
  const perConv: Record<string, Awaited<ReturnType<typeof errors>>> = {};
  for (const node of convs) {
    const file = join(dir, "one.onnx");
    python("build", packageName, ranges, file, "--stat", values.stat!, "--float", convs.filter((c) => c !== node).join(","));
    perConv[node] = await errors(file);
    console.log(`${node}: mean |Δ| at steps 1/13/25 ${perConv[node].meanPerStep.join(" / ")}, max ${perConv[node].max}`);
  }
  // 3. the whole model with the chosen float set, and with none
  const whole: Record<string, Awaited<ReturnType<typeof errors>>> = {};
  for (const keep of ["", values.float!]) {
    const file = join(dir, "whole.onnx");
    python("build", packageName, ranges, file, "--stat", values.stat!, ...(keep ? ["--float", keep] : []));
    whole[keep || "none"] = await errors(file);
    console.log(`all quantized but [${keep}]: mean |Δ| ${whole[keep || "none"]!.meanPerStep.join(" / ")}, max ${whole[keep || "none"]!.max}`);
  }
  writeFileSync(
    out,
    JSON.stringify(
      {
        package: packageName,
        command: `npx tsx training/quantize/sensitivity.ts ${packageName} ${ranges} ${out} --stat ${values.stat} --float ${values.float}`,
        inputs: `the fp32 sampler's denoiser inputs at steps 1, 13, 25 of DDIM 25 (guidance ${manifest.defaults.guidance ?? 3}, ${grid.length} samples, ${2 * grid.length} rows each), seed 2202`,
        stat: values.stat,
        perConv,
        whole,
      },
      null,
      1,
    ) + "\n",
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
