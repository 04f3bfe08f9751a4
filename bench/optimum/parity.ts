// bench/optimum/parity: the measured errors of the runtime's Optimum pipeline against the PyTorch reference goldens
// (test/fixtures/optimum/golden-*.json; test/diffusion/optimum/pipeline-golden.test.ts asserts < 1e-3, this prints
// the figures).
//
//   npx tsx bench/optimum/parity.ts
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScheduler, decodeLatents, openModelRuntime, sampleOptimumLatents, validateRequest } from "../../src/diffusion/index.ts";
import { loadModelPackageAsync } from "../../src/models/index.ts";
import { decodeFloats, maxAbsDiff, OPTIMUM_FIXTURES, readJsonFixture, type StoredTensor, type TinyExport } from "../../test/diffusion/optimum/golden.ts";
import { installExport, roadManifest } from "../../test/diffusion/optimum/install.ts";

interface PipelineGolden {
  export: TinyExport;
  steps: number;
  guidance: number;
  cases: { prompt: string; negativePrompt: string }[];
  noise: StoredTensor;
  finalLatents: StoredTensor;
  image: StoredTensor;
  maskLatent?: StoredTensor;
}

const root = await mkdtemp(join(tmpdir(), "rareforge-parity-"));
for (const file of ["golden-txt2img.json", "golden-inpaint.json"]) {
  const golden = readJsonFixture<PipelineGolden>(file);
  const model = await loadModelPackageAsync(await installExport(golden.export, root, roadManifest(golden.export)));
  const runtime = await openModelRuntime(model, { ep: "cpu" });
  if (runtime.kind !== "optimum") throw new Error("expected an Optimum runtime");
  const s = model.optimum!.scheduler;
  const scheduler = createScheduler(s.sampler, { schedule: s.schedule, prediction: s.prediction, spacing: s.spacing, stepsOffset: s.stepsOffset, setAlphaToOne: s.setAlphaToOne });
  let reference = null;
  if (golden.maskLatent) {
    const prepared = validateRequest({
      model,
      sampler: "ddim",
      steps: golden.steps,
      guidance: golden.guidance,
      seed: 0,
      indices: [0],
      parameters: [{ hazard: "pedestrian", timeOfDay: "night", weather: "rain" }],
      reference: await readFile(join(OPTIMUM_FIXTURES, "inpaint/reference.png")),
      mask: await readFile(join(OPTIMUM_FIXTURES, "inpaint/mask.png")),
    })!;
    reference = { image: prepared.sample, mask: prepared.mask, strength: prepared.strength };
  }
  const noise = decodeFloats(golden.noise);
  const perSample = noise.length / golden.cases.length;
  const latents = await sampleOptimumLatents({
    runtime,
    scheduler,
    steps: golden.steps,
    guidance: golden.guidance,
    prompts: golden.cases.map((c) => c.prompt),
    negativePrompts: golden.cases.map((c) => c.negativePrompt),
    noise: golden.cases.map((_, i) => ({ gaussian: () => noise.slice(i * perSample, (i + 1) * perSample) })),
    reference,
  });
  const image = (await decodeLatents(runtime, latents, golden.cases.length)).map((v) => Math.min(1, Math.max(0, v / 2 + 0.5)));
  console.log(`${file}: final latents max abs error ${maxAbsDiff(latents, decodeFloats(golden.finalLatents)).toExponential(2)}, image ${maxAbsDiff(image, decodeFloats(golden.image)).toExponential(2)}`);
  await runtime.dispose();
}
await rm(root, { recursive: true, force: true });
