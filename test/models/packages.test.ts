// Every model package under models/ (model.json, detector.json, critic.json) plus the tiny test packages:
// hashes verified, one call run, and for diffusion models the golden fixture test/fixtures/<model>/golden.json
// matched (denoiser calls to 1e-4, the 10-step DDIM trajectory with guidance to 1e-3).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openConditionRuntime, type ConditionRuntime } from "../../src/diffusion/index.ts";
import { createSession } from "../../src/runtime/index.ts";
import { loadModelPackage, loadPackageIdentity } from "../../src/models/index.ts";
import { denoiserCallErrors, maxAbsDiff, readF32, readGolden, trajectoryError } from "./golden.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
// RAREFORGE_PACKAGES_ROOT checks a freshly built set (a directory with models/ and test/fixtures/) before it is committed.
const packagesRoot = process.env.RAREFORGE_PACKAGES_ROOT ?? root;
const modelsRoot = join(packagesRoot, "models");
const MANIFESTS = ["model.json", "detector.json", "critic.json"] as const;

interface PackageUnderTest {
  dir: string;
  manifestFile: (typeof MANIFESTS)[number];
  /** Where its golden fixture lives. */
  fixtureDir: string;
}

const shipped: PackageUnderTest[] = (existsSync(modelsRoot) ? readdirSync(modelsRoot).sort() : []).flatMap((name) => {
  const manifestFile = MANIFESTS.find((m) => existsSync(join(modelsRoot, name, m)));
  return manifestFile ? [{ dir: join(modelsRoot, name), manifestFile, fixtureDir: join(packagesRoot, "test/fixtures", name) }] : [];
});
const tiny: PackageUnderTest[] = ["test/fixtures/tiny-model", "test/fixtures/tiny-model/latent"].map((p) => ({
  dir: join(root, p),
  manifestFile: "model.json",
  fixtureDir: join(root, p),
}));

it("finds the packages to check (shipped ones under models/, when present, and the tiny test packages)", () => {
  expect(shipped.length + tiny.length).toBeGreaterThanOrEqual(2);
});

for (const pkg of [...shipped, ...tiny]) {
  const label = pkg.dir.startsWith(root) ? pkg.dir.slice(root.length) : pkg.dir;
  if (pkg.manifestFile === "model.json") {
    describe(`diffusion package ${label}`, () => {
      let runtime: ConditionRuntime;
      beforeAll(async () => {
        runtime = await openConditionRuntime(loadModelPackage(pkg.dir), { ep: "cpu" });
      });
      afterAll(async () => runtime?.dispose());

      it("has a golden fixture", () => {
        expect(existsSync(join(pkg.fixtureDir, "golden.json")), `${pkg.fixtureDir}/golden.json`).toBe(true);
      });

      it("denoiser calls match the golden fixture to 1e-4", async () => {
        const golden = readGolden(pkg.fixtureDir);
        expect(golden.model).toBe(runtime.model.manifest.name);
        const errors = await denoiserCallErrors(runtime, pkg.fixtureDir, golden);
        expect(errors.length).toBeGreaterThan(0);
        for (const error of errors) expect(error).toBeLessThan(1e-4);
      });

      it("the DDIM trajectory with guidance matches the golden fixture to 1e-3", async () => {
        const golden = readGolden(pkg.fixtureDir);
        const { error, timesteps } = await trajectoryError(runtime, pkg.fixtureDir, golden, {
          sampler: "ddim",
          steps: golden.ddim.steps,
          guidance: golden.ddim.guidance,
          eta: golden.ddim.eta,
          final: golden.ddim.final,
        });
        expect(timesteps).toEqual(golden.ddim.timesteps);
        expect(error).toBeLessThan(1e-3);
      });

      it("a row's denoiser output does not depend on the batch around it (CPU)", async () => {
        const golden = readGolden(pkg.fixtureDir);
        const call = golden.denoiserCalls[0]!;
        const [rows = 1, ...shape] = call.sampleShape;
        const n = shape.reduce((a, b) => a * b, 1);
        const width = call.conditionShape[1] ?? 0;
        const sample = readF32(pkg.fixtureDir, call.sample);
        const condition = readF32(pkg.fixtureDir, call.condition);
        const names = runtime.model.manifest.denoiser.inputs;
        const run = async (batch: number) => {
          // the fixture's rows repeated to fill `batch` rows
          const x = new Float32Array(batch * n);
          const c = new Float32Array(batch * width);
          const t = new Float32Array(batch);
          for (let b = 0; b < batch; b++) {
            x.set(sample.subarray((b % rows) * n, (b % rows + 1) * n), b * n);
            c.set(condition.subarray((b % rows) * width, (b % rows + 1) * width), b * width);
            t[b] = call.timestep[b % rows] ?? 0;
          }
          const out = await runtime.denoiser.run({
            [names.sample]: { type: "float32", data: x, dims: [batch, ...shape] },
            [names.timestep]:
              runtime.model.manifest.denoiser.timestepDtype === "int64"
                ? { type: "int64", data: BigInt64Array.from(t, (v) => BigInt(Math.round(v))), dims: [batch] }
                : { type: "float32", data: t, dims: [batch] },
            [names.condition]: { type: "float32", data: c, dims: [batch, width] },
          });
          return out[runtime.model.manifest.denoiser.output]!.data;
        };
        const small = await run(rows);
        const large = await run(8 * rows);
        const lastRow = 8 * rows - 1;
        const r = lastRow % rows;
        expect(Buffer.from(large.slice(lastRow * n, (lastRow + 1) * n).buffer).equals(Buffer.from(small.slice(r * n, (r + 1) * n).buffer))).toBe(true);
      });
    });
  } else {
    describe(`${pkg.manifestFile.replace(".json", "")} package ${label}`, () => {
      it("verifies its files and runs one call (matching its golden fixture to 1e-4 when it has one)", async () => {
        const { identity } = loadPackageIdentity(pkg.dir, pkg.manifestFile);
        const onnxFile = Object.keys(identity.files).find((f) => f.endsWith(".onnx"));
        expect(onnxFile, "an ONNX file listed in files").toBeDefined();
        const session = await createSession(join(pkg.dir, onnxFile!), { ep: "cpu" });
        try {
          const goldenPath = join(pkg.fixtureDir, "golden.json");
          if (existsSync(goldenPath)) {
            const golden = JSON.parse(readFileSync(goldenPath, "utf8")) as {
              input: { name: string; file: string; shape: number[] };
              output: { name: string; file: string; shape: number[] };
            };
            const out = await session.run({ [golden.input.name]: { type: "float32", data: readF32(pkg.fixtureDir, golden.input.file), dims: golden.input.shape } });
            expect(out[golden.output.name]?.dims).toEqual(golden.output.shape);
            expect(maxAbsDiff(out[golden.output.name]!.data, readF32(pkg.fixtureDir, golden.output.file))).toBeLessThan(1e-4);
          } else {
            const feeds = Object.fromEntries(
              session.inputNames.map((name) => {
                const dims = (session.inputShapes[name] ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1));
                return [name, { type: "float32" as const, data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims }];
              }),
            );
            const out = await session.run(feeds);
            expect(Object.keys(out).length).toBeGreaterThan(0);
          }
        } finally {
          await session.dispose();
        }
      });
    });
  }
}
