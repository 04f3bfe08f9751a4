// One batch end to end without a database: files are the same whatever the batch (so a retried or
// re-split task reproduces them), each embeds its record, and a record alone regenerates the same bytes.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openModelRuntime, type ModelRuntime } from "../../src/diffusion/index.ts";
import { generateBatch, reproduceFromRecord, type GeneratedArtifact } from "../../src/generation/index.ts";
import { readPngRecord } from "../../src/imaging/index.ts";
import { loadModelPackage, type ModelPackage } from "../../src/models/index.ts";
import { parseScenarioYaml } from "../../src/scenarios/index.ts";
import { sha256Of } from "../../src/storage/index.ts";

const MODELS_DIR = new URL("../fixtures/", import.meta.url).pathname;
const parsed = parseScenarioYaml(readFileSync(`${MODELS_DIR}tiny-model/scenarios/tiny-pedestrian-fog.yaml`, "utf8"));
if (!parsed.ok) throw new Error("fixture scenario does not parse");
const spec = parsed.specs[0]!;
const scenario = { id: "00000000-0000-0000-0000-000000000001", name: "tiny", version: 1, specHash: "x" };

describe("generateBatch", () => {
  let model: ModelPackage;
  let runtime: ModelRuntime;
  beforeAll(async () => {
    model = loadModelPackage(`${MODELS_DIR}tiny-model`);
    runtime = await openModelRuntime(model, { ep: "cpu" });
  });
  afterAll(() => runtime?.dispose());

  const batch = (indices: number[]) =>
    generateBatch({ model, runtime, scenario, spec, jobId: "job-1", sampler: "ddim", steps: 3, guidance: 3, seed: 21, indices });

  it("produces the same file for a sample in any batch, with its record embedded", async () => {
    const together = (await batch([4, 5, 6, 7])) as GeneratedArtifact[];
    const alone = (await batch([6])) as GeneratedArtifact[];
    expect(together.map((o) => o.status)).toEqual(["OK", "OK", "OK", "OK"]);
    expect(alone[0]!.sha256).toBe(together[2]!.sha256);
    expect(sha256Of(together[2]!.bytes)).toBe(together[2]!.sha256);
    expect(readPngRecord(together[2]!.bytes)).toMatchObject({ index: 6, seed: 21, scenario, job: { id: "job-1" }, model: { name: "tiny-model" } });
    expect(together[0]!.mediaType).toBe("image/png");
    expect(new Set(together.map((o) => o.sha256)).size).toBe(4);
  });

  it("regenerates the same bytes from the record alone", async () => {
    const [sample] = (await batch([3])) as GeneratedArtifact[];
    const record = JSON.parse(JSON.stringify(sample!.record));
    const reproduction = await reproduceFromRecord(record, MODELS_DIR);
    expect(reproduction.sha256).toBe(sample!.sha256);
  });

  it("refuses to reproduce with a model whose files changed since", async () => {
    const [sample] = (await batch([0])) as GeneratedArtifact[];
    const record = { ...sample!.record, model: { ...sample!.record.model, fileHashes: { "denoiser.onnx": "0".repeat(64) } } };
    await expect(reproduceFromRecord(record, MODELS_DIR)).rejects.toThrow(/has changed/);
  });
});
