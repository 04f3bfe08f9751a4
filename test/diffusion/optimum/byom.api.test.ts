// Bring your own model, through GraphQL over real HTTP with the in-process worker: a users' Optimum exports
// (the tiny ones, copied unchanged into the models directory) registered with a rareforge.json, a scenario
// created for each, 16 samples generated with their prompts in the provenance, one reproduced byte for byte,
// a hazard inpainted into a camera frame by the 9-channel export; and the typed refusals before any work.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../src/db/index.ts";
import { readPngRecord } from "../../../src/imaging/index.ts";
import { testBackends } from "../../helpers/databases.ts";
import { startTestService, type TestService } from "../../helpers/service.ts";
import { REQUEST, waitForJob } from "../../jobs/helpers.ts";
import { OPTIMUM_FIXTURES } from "./golden.ts";
import { roadManifest } from "./install.ts";

const REGISTER = /* GraphQL */ `
  mutation($path: String!, $manifest: JSON) {
    registerModel(path: $path, manifest: $manifest) {
      __typename
      ... on MutationRegisterModelSuccess { data { id name version kind promptTemplate fileHashes } }
      ... on ModelPackageError { code message }
      ... on Error { message }
    }
  }
`;
const CREATE = /* GraphQL */ `
  mutation($spec: JSON!) { createScenario(spec: $spec) { __typename ... on MutationCreateScenarioSuccess { data { id } } ... on ValidationError { issues { path message } } ... on Error { message } } }
`;
const SAMPLES = /* GraphQL */ `
  query($jobId: ID) { samples(jobId: $jobId, first: 50) { totalCount edges { node { id index status parameters provenance artifact { sha256 } } } } }
`;

const REPOSITORY_MODELS = new URL("../../../models/", import.meta.url).pathname;
const BOX = ["hazardCx", "hazardCy", "hazardW", "hazardH"] as const;
/** The inpainting export can insert hazards: its manifest adds the box as scalar parameters and a box label. */
const inpaintManifest = roadManifest("tiny-sd-inpaint", {
  parameters: [...roadManifest("x").parameters, ...BOX.map((name) => ({ name, kind: "scalar" as const, range: [0, 1] as [number, number] }))],
  labels: [{ kind: "box", class: "hazard", cx: "hazardCx", cy: "hazardCy", w: "hazardW", h: "hazardH" }],
});

for (const backend of testBackends().slice(0, 1)) {
  describe(`bring your own Optimum export over GraphQL (${backend.name})`, () => {
    let db: Database;
    let api: TestService;
    let root: string;
    let modelsDir: string;

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), "rareforge-byom-"));
      modelsDir = join(root, "models");
      // the user's exports, as optimum-cli wrote them, somewhere inside the models directory
      for (const name of ["tiny-sd", "tiny-sd-inpaint"]) await cp(join(OPTIMUM_FIXTURES, name), join(modelsDir, "exports", name), { recursive: true });
      // the shipped detector under test, registered on first use from the models directory
      await cp(join(REPOSITORY_MODELS, "road-detector"), join(modelsDir, "road-detector"), { recursive: true });
      db = await backend.open();
      api = await startTestService(db, { modelsDir, dataDir: join(root, "data"), importLibraryOnStart: false, workerConcurrency: 1 });
    }, 120_000);
    afterAll(async () => {
      await api?.close();
      await db?.close();
      await rm(root, { recursive: true, force: true });
    });

    it("registers an export with its manifest: installed under its name, every file hashed", async () => {
      const registered = await api.graphql(REGISTER, { path: "exports/tiny-sd", manifest: roadManifest("tiny-sd") });
      const result = registered.data!.registerModel;
      expect(result.__typename, JSON.stringify(registered)).toBe("MutationRegisterModelSuccess");
      expect(result.data).toMatchObject({ name: "tiny-sd", version: "0.1.0", kind: "optimum", promptTemplate: { template: "dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}" } });
      expect(Object.keys(result.data.fileHashes)).toEqual(expect.arrayContaining(["unet/model.onnx", "text_encoder/model.onnx", "vae_decoder/model.onnx", "tokenizer/vocab.json", "scheduler/scheduler_config.json"]));
      const installed = JSON.parse(await readFile(join(modelsDir, "tiny-sd", "rareforge.json"), "utf8"));
      expect(installed.files).toEqual(result.data.fileHashes);
    });

    it("generates 16 samples from a scenario with its own prompt template, the drawn prompts in the provenance, and reproduces one byte for byte", async () => {
      const spec = {
        name: "byom-hazards-at-night",
        domain: "automotive",
        model: "tiny-sd",
        parameters: { hazard: { kind: "choice", values: ["pedestrian", "animal", "cone"] }, timeOfDay: "night", weather: { kind: "choice", values: ["rain", "fog"] } },
        prompt: { template: "dashcam photo, a {hazard} on a wet road at {timeOfDay}, {weather}, {{hdr}}", negative: "cartoon, {weather} artefacts" },
      };
      const created = await api.graphql(CREATE, { spec });
      expect(created.data!.createScenario.__typename, JSON.stringify(created)).toBe("MutationCreateScenarioSuccess");
      const requested = await api.graphql(REQUEST, { scenarioId: created.data!.createScenario.data.id, count: 16, batchSize: 8, sampler: "DDIM", steps: 5, guidance: 7.5, seed: 3 });
      const job = requested.data!.requestGeneration.data;
      expect(job, JSON.stringify(requested)).toMatchObject({ count: 16, taskCount: 2 });
      expect(await waitForJob(api, job.id, (j) => j.status === "SUCCEEDED" || j.status === "FAILED", 120_000)).toMatchObject({ status: "SUCCEEDED", completedCount: 16, failedCount: 0 });
      const samples = (await api.graphql(SAMPLES, { jobId: job.id })).data!.samples;
      expect(samples.totalCount).toBe(16);
      const hashes = new Set<string>();
      for (const { node } of samples.edges) {
        expect(node.status).toBe("OK");
        const record = node.provenance.record;
        const { hazard, timeOfDay, weather } = node.parameters;
        expect(record.prompt).toEqual({ text: `dashcam photo, a ${hazard} on a wet road at ${timeOfDay}, ${weather}, {hdr}`, negative: `cartoon, ${weather} artefacts` });
        expect(record.model.name).toBe("tiny-sd");
        const bytes = await readFile(join(root, "data", "artifacts", node.artifact.sha256.slice(0, 2), node.artifact.sha256));
        expect(readPngRecord(bytes)).toEqual(record);
        hashes.add(node.artifact.sha256);
      }
      expect(hashes.size).toBe(16);
      // the dataset export carries each sample with its provenance (the prompt included)
      const exported = await api.graphql(
        `mutation($jobId: ID!) { exportDataset(filter: { jobId: $jobId }, format: COCO) { __typename ... on MutationExportDatasetSuccess { data { sampleCount url } } ... on Error { message } } }`,
        { jobId: job.uuid },
      );
      const exportData = exported.data!.exportDataset.data;
      expect(exportData, JSON.stringify(exported)).toMatchObject({ sampleCount: 16 });
      const zip = unzipSync(new Uint8Array(await (await api.fetch(exportData.url)).arrayBuffer()));
      const coco = Object.entries(zip)
        .filter(([name]) => /^annotations\/instances_.*\.json$/.test(name))
        .flatMap(([, bytes]) => JSON.parse(new TextDecoder().decode(bytes)).images as { rareforge: { provenance: { record: { prompt: { text: string } } } } }[]);
      expect(coco).toHaveLength(16);
      for (const image of coco) expect(image.rareforge.provenance.record.prompt.text).toMatch(/^dashcam photo, a (pedestrian|animal|cone) on a wet road at night, (rain|fog), \{hdr\}$/);
      const sample = samples.edges[5].node;
      const reproduced = await api.graphql(`mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches expectedSha256 actualSha256 } } ... on Error { message } } }`, { id: sample.id });
      expect(reproduced.data!.reproduceSample.data, JSON.stringify(reproduced)).toEqual({ matches: true, expectedSha256: sample.artifact.sha256, actualSha256: sample.artifact.sha256 });
    }, 180_000);

    it("scores an export's samples with a detector in the loop against the boxes its manifest labels, and reports them", async () => {
      const boxed = await api.graphql(REGISTER, { path: "exports/tiny-sd", manifest: { ...inpaintManifest, name: "tiny-sd-boxes" } });
      expect(boxed.data!.registerModel.__typename, JSON.stringify(boxed)).toBe("MutationRegisterModelSuccess");
      const spec = {
        name: "byom-boxed-pedestrians",
        domain: "automotive",
        model: "tiny-sd-boxes",
        parameters: { hazard: "pedestrian", timeOfDay: "dusk", weather: "clear", hazardCx: 0.5, hazardCy: 0.6, hazardW: 0.2, hazardH: 0.4 },
        expectations: [{ class: "pedestrian" }],
      };
      const created = await api.graphql(CREATE, { spec });
      expect(created.data!.createScenario.__typename, JSON.stringify(created)).toBe("MutationCreateScenarioSuccess");
      const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
      const detectorId = detectors.data!.detectors.edges.find((e: { node: { name: string } }) => e.node.name === "road-detector")?.node.id;
      expect(detectorId, JSON.stringify(detectors)).toBeDefined();
      const requested = await api.graphql(
        `mutation($s: ID!, $d: ID!) { requestGeneration(scenarioId: $s, count: 8, steps: 3, seed: 9, batchSize: 8, detectorId: $d) { __typename ... on MutationRequestGenerationSuccess { data { id uuid } } ... on Error { message } } }`,
        { s: created.data!.createScenario.data.id, d: detectorId },
      );
      const job = requested.data!.requestGeneration.data;
      expect(job, JSON.stringify(requested)).toBeDefined();
      expect(await waitForJob(api, job.id, (j) => ["SUCCEEDED", "PARTIAL", "FAILED"].includes(j?.status), 120_000)).toMatchObject({ status: "SUCCEEDED", completedCount: 8 });
      const samples = await db.prisma.sample.findMany({ where: { jobId: job.uuid }, include: { scores: true } });
      expect(samples).toHaveLength(8);
      for (const s of samples) {
        expect(s.scores).toHaveLength(1);
        expect(s.labels).toMatchObject({ boxes: [expect.objectContaining({ class: "pedestrian" })] });
      }
      const report = await api.graphql(`query($s: ID!, $d: ID!) { scenarioReport(scenarioId: $s, detectorId: $d) { __typename ... on QueryScenarioReportSuccess { data { samples } } ... on Error { message } } }`, {
        s: created.data!.createScenario.data.id,
        d: detectorId,
      });
      expect(report.data!.scenarioReport, JSON.stringify(report)).toMatchObject({ data: { samples: 8 } });
    }, 180_000);

    it("runs a CEM failure search over an export's scenario: one scored job per iteration, proposals drawn into the prompts", async () => {
      const spec = {
        name: "byom-search-hazards",
        domain: "automotive",
        model: "tiny-sd-boxes",
        parameters: {
          hazard: { kind: "choice", values: ["pedestrian", "cyclist"] },
          timeOfDay: { kind: "choice", values: ["day", "night"] },
          weather: "fog",
          hazardCx: { kind: "uniform", min: 0.3, max: 0.7 },
          hazardCy: 0.6,
          hazardW: 0.2,
          hazardH: 0.4,
        },
        expectations: [{ classFrom: "hazard" }],
      };
      const created = await api.graphql(CREATE, { spec });
      expect(created.data!.createScenario.__typename, JSON.stringify(created)).toBe("MutationCreateScenarioSuccess");
      const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
      const detectorId = detectors.data!.detectors.edges.find((e: { node: { name: string } }) => e.node.name === "road-detector")!.node.id;
      const started = await api.graphql(
        `mutation($s: ID!, $d: ID!) { startFailureSearch(scenarioId: $s, detectorId: $d, budget: 16, batchSize: 8, method: CEM, steps: 2, seed: 3) {
          __typename ... on MutationStartFailureSearchSuccess { data { id } } ... on Error { message } } }`,
        { s: created.data!.createScenario.data.id, d: detectorId },
      );
      const searchId = started.data!.startFailureSearch.data?.id;
      expect(searchId, JSON.stringify(started)).toBeDefined();
      const SEARCH = `query($id: ID!) { failureSearch(id: $id) { ... on QueryFailureSearchSuccess { data { status evaluatedCount iterations { n job { uuid } } } } } }`;
      let search: any;
      const deadline = Date.now() + 120_000;
      do {
        await new Promise((r) => setTimeout(r, 200));
        search = (await api.graphql(SEARCH, { id: searchId })).data!.failureSearch.data;
      } while (!["SUCCEEDED", "FAILED", "CANCELLED"].includes(search.status) && Date.now() < deadline);
      expect(search).toMatchObject({ status: "SUCCEEDED", evaluatedCount: 16 });
      expect(search.iterations).toHaveLength(2);
      for (const iteration of search.iterations) {
        const samples = await db.prisma.sample.findMany({ where: { jobId: iteration.job.uuid }, include: { scores: true } });
        expect(samples).toHaveLength(8);
        for (const sample of samples) {
          expect(sample.scores).toHaveLength(1);
          const { parameters, prompt } = (sample.provenance as { record: { parameters: Record<string, string>; prompt: { text: string } } }).record;
          expect(prompt.text).toBe(`dashcam photo, a ${parameters.hazard} on the road at ${parameters.timeOfDay}, fog`);
        }
      }
    }, 180_000);

    it("refuses a scenario whose values the export's parameters do not allow, or whose template names no parameter, naming the field", async () => {
      const parameters = { hazard: "pedestrian", timeOfDay: "night", weather: "rain" };
      const bad = await api.graphql(CREATE, { spec: { name: "byom-bad", domain: "automotive", model: "tiny-sd", parameters: { ...parameters, hazard: "dragon" } } });
      expect(bad.data!.createScenario.__typename).toBe("ValidationError");
      expect(bad.data!.createScenario.issues).toEqual([expect.objectContaining({ path: "parameters.hazard", message: expect.stringContaining('"dragon" is not a value of hazard') })]);
      const unknown = await api.graphql(CREATE, { spec: { name: "byom-bad", domain: "automotive", model: "tiny-sd", parameters, prompt: { template: "a {hazard} in {season}" } } });
      expect(unknown.data!.createScenario.issues).toEqual([expect.objectContaining({ path: "prompt.template", message: expect.stringContaining("{season}, which is not a parameter") })]);
    });

    it("inpaints a hazard into a camera frame with the 9-channel export", async () => {
      const registered = await api.graphql(REGISTER, { path: "exports/tiny-sd-inpaint", manifest: inpaintManifest });
      expect(registered.data!.registerModel.__typename, JSON.stringify(registered)).toBe("MutationRegisterModelSuccess");
      const frame = await readFile(join(OPTIMUM_FIXTURES, "inpaint", "reference.png"));
      const scan = await api.service.services.referenceScans.upload(new Blob([frame]), { domain: "AUTOMOTIVE" });
      const box = { x: 20, y: 30, width: 16, height: 20 };
      const inserted = await api.graphql(
        `mutation($frame: ID!, $box: RegionBoxInput!) {
          insertHazard(referenceScanId: $frame, box: $box, model: "tiny-sd-inpaint", parameters: { hazard: "pedestrian", weather: "rain", timeOfDay: "night" }, steps: 5, guidance: 7.5, seed: 4) {
            __typename
            ... on MutationInsertHazardSuccess { data { groundTruth provenance artifact { sha256 } } }
            ... on Error { message }
          }
        }`,
        { frame: Buffer.from(`ReferenceScan:${scan.id}`).toString("base64"), box },
      );
      const result = inserted.data?.insertHazard;
      expect(result?.__typename, JSON.stringify(inserted)).toBe("MutationInsertHazardSuccess");
      expect(result.data.groundTruth).toMatchObject({ class: "pedestrian", box });
      expect(result.data.provenance.record.prompt.text).toBe("dashcam photo, a pedestrian on the road at night, rain");
    }, 120_000);

    describe("typed refusals before any work, nothing installed", () => {
      const refusal = async (exportName: string, change: (dir: string) => Promise<void>, manifest: unknown = roadManifest("refused")) => {
        const dir = join(modelsDir, "exports", `${exportName}-${Math.random().toString(36).slice(2, 8)}`);
        await cp(join(OPTIMUM_FIXTURES, exportName), dir, { recursive: true });
        await change(dir);
        const response = await api.graphql(REGISTER, { path: dir, manifest });
        expect(existsSync(join(modelsDir, "refused")), "nothing installed").toBe(false);
        expect(readdirSync(modelsDir).filter((f) => f.startsWith(".installing"))).toEqual([]);
        return response.data!.registerModel;
      };

      it("a directory outside the models directory, and a name already installed", async () => {
        const outside = (await api.graphql(REGISTER, { path: join(OPTIMUM_FIXTURES, "tiny-sd"), manifest: roadManifest("refused") })).data!.registerModel;
        expect(outside).toMatchObject({ __typename: "ModelPackageError", code: "not-found", message: expect.stringContaining("not a directory inside the models directory") });
        expect(existsSync(join(modelsDir, "refused"))).toBe(false);
        const before = await readFile(join(modelsDir, "tiny-sd", "rareforge.json"), "utf8");
        const again = (await api.graphql(REGISTER, { path: "exports/tiny-sd-inpaint", manifest: roadManifest("tiny-sd") })).data!.registerModel;
        expect(again).toMatchObject({ __typename: "ModelPackageError", code: "invalid-name" });
        expect(await readFile(join(modelsDir, "tiny-sd", "rareforge.json"), "utf8")).toBe(before);
        // registered in place with a manifest that fails later (the same name and version, other files): rareforge.json is restored
        await writeFile(join(modelsDir, "tiny-sd", "extra.txt"), "a file the recorded package does not have");
        const inPlace = (await api.graphql(REGISTER, { path: "tiny-sd", manifest: roadManifest("tiny-sd") })).data!.registerModel;
        expect(inPlace).toMatchObject({ __typename: "ValidationError", message: expect.stringContaining("a changed package needs a new version") });
        expect(await readFile(join(modelsDir, "tiny-sd", "rareforge.json"), "utf8")).toBe(before);
        await rm(join(modelsDir, "tiny-sd", "extra.txt"));
      });

      it("a missing part", async () => {
        const result = await refusal("tiny-sd", (dir) => rm(join(dir, "vae_decoder", "model.onnx")));
        expect(result).toMatchObject({ __typename: "ModelPackageError", code: "missing-file" });
        expect(result.message).toContain("vae_decoder/model.onnx");
      });

      it("a template naming unknown fields", async () => {
        const result = await refusal("tiny-sd", async () => {}, roadManifest("refused", { prompt: { template: "a {hazard} in {season}", negative: "" } }));
        expect(result).toMatchObject({ __typename: "ModelPackageError", code: "invalid-manifest" });
        expect(result.message).toContain("{season}");
      });

      it("a scheduler class the runtime does not have, listing the allowed ones", async () => {
        const result = await refusal("tiny-sd", async (dir) => {
          const path = join(dir, "scheduler", "scheduler_config.json");
          await writeFile(path, JSON.stringify({ ...JSON.parse(await readFile(path, "utf8")), _class_name: "HeunDiscreteScheduler" }));
        });
        expect(result).toMatchObject({ __typename: "ModelPackageError", code: "invalid-manifest" });
        expect(result.message).toContain("allowed: DDIMScheduler, PNDMScheduler");
      });

      it("an ONNX part onnxruntime cannot load", async () => {
        const result = await refusal("tiny-sd", (dir) => writeFile(join(dir, "unet", "model.onnx"), "not an onnx file"));
        expect(result).toMatchObject({ __typename: "ModelPackageError", code: "unloadable-part", message: expect.stringContaining("unet/model.onnx does not load") });
      });

      it("a tokenizer that does not load", async () => {
        const result = await refusal("tiny-sd", (dir) => writeFile(join(dir, "tokenizer", "vocab.json"), "{ not json"));
        expect(result).toMatchObject({ __typename: "ModelPackageError", code: "tokenizer" });
      });

      it("a UNet whose channels fit neither layout, and a text encoder of another width", async () => {
        // the inpainting UNet under a text-to-image index: 9 channels where 4 are declared
        const mixed = await refusal("tiny-sd", (dir) => cp(join(OPTIMUM_FIXTURES, "tiny-sd-inpaint", "unet", "model.onnx"), join(dir, "unet", "model.onnx")));
        expect(mixed).toMatchObject({ __typename: "ModelPackageError", code: "incompatible-parts" });
        // the other export's text encoder: 48-wide hidden states into a UNet that takes 32
        const width = await refusal("tiny-sd", (dir) => cp(join(OPTIMUM_FIXTURES, "tiny-sd-inpaint", "text_encoder", "model.onnx"), join(dir, "text_encoder", "model.onnx")));
        expect(width).toMatchObject({ __typename: "ModelPackageError", code: "incompatible-parts" });
        expect(width.message).toMatch(/48.*32|32.*48/);
      });
    });
  });
}
