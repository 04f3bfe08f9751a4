// bench/optimum/parity: the measured errors of the runtime's Optimum pipeline against the PyTorch reference goldens
// (test/fixtures/optimum/golden-*.json; test/diffusion/optimum/pipeline-golden.test.ts asserts < 1e-3, this prints
// the figures).
//
//   npx tsx bench/optimum/parity.ts
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openModelRuntime } from "../../src/diffusion/index.ts";
import { loadModelPackageAsync } from "../../src/models/index.ts";
import { decodeFloats, maxAbsDiff, readJsonFixture } from "../../test/diffusion/optimum/golden.ts";
import { installExport, roadManifest } from "../../test/diffusion/optimum/install.ts";
import { replayGolden, type PipelineGolden } from "../../test/diffusion/optimum/replay.ts";

const root = await mkdtemp(join(tmpdir(), "rareforge-parity-"));
for (const file of ["golden-txt2img.json", "golden-inpaint.json"]) {
  const golden = readJsonFixture<PipelineGolden>(file);
  const model = await loadModelPackageAsync(await installExport(golden.export, root, roadManifest(golden.export)));
  const runtime = await openModelRuntime(model, { ep: "cpu" });
  if (runtime.kind !== "optimum") throw new Error("expected an Optimum runtime");
  const { latents, image } = await replayGolden(model, runtime, golden);
  console.log(`${file}: final latents max abs error ${maxAbsDiff(latents, decodeFloats(golden.finalLatents)).toExponential(2)}, image ${maxAbsDiff(image, decodeFloats(golden.image)).toExponential(2)}`);
  await runtime.dispose();
}
await rm(root, { recursive: true, force: true });
