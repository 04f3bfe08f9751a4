// The job path for medical models: each sample's DICOM image, ground-truth JSON and SEG (Sample.files)
// are conformant, carry UIDs and dates from the job record, and regenerate byte for byte from the record.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dicomParser from "dicom-parser";
import { decode as decodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openModelRuntime, type ModelRuntime } from "../../src/diffusion/index.ts";
import { generateBatch, reproduceFromRecord, type GeneratedArtifact } from "../../src/generation/index.ts";
import { readDicom, uidFromName } from "../../src/imaging/dicom/index.ts";
import { jobSampleUidNames } from "../../src/imaging/index.ts";
import { loadModelPackage, type ModelPackage } from "../../src/models/index.ts";
import { parseScenarioYaml } from "../../src/scenarios/index.ts";
import { checkConformance } from "./helpers/conformance.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const parsed = parseScenarioYaml(readFileSync(`${ROOT}scenarios/haemorrhage-midline-shift.yaml`, "utf8"));
if (!parsed.ok) throw new Error("scenario does not parse");
const spec = parsed.specs[0]!;
const scenario = { id: "00000000-0000-0000-0000-0000000000aa", name: "haemorrhage-midline-shift", version: 1, specHash: "x" };
const jobId = "5b0f3a57-8f0c-4b4e-9d34-3c6b2a1e0001";
const jobCreatedAt = new Date("2026-03-04T05:06:07.089Z");

describe("medical samples from a job", () => {
  let model: ModelPackage;
  let runtime: ModelRuntime;
  let samples: GeneratedArtifact[];
  let directory: string;

  beforeAll(async () => {
    model = loadModelPackage(`${ROOT}models/brain-mri`);
    runtime = await openModelRuntime(model, { ep: "cpu", intraOpThreads: 1 });
    samples = (await generateBatch({ model, runtime, scenario, spec, jobId, jobCreatedAt, sampler: "ddim", steps: 4, guidance: 3, seed: 11, indices: [0, 1] })) as GeneratedArtifact[];
    directory = mkdtempSync(path.join(os.tmpdir(), "rareforge-job-dicom-"));
  });
  afterAll(async () => {
    await runtime?.dispose();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it("writes the DICOM image, ground truth and SEG beside the 16-bit PNG", () => {
    for (const sample of samples) {
      expect(sample.status).toBe("OK");
      expect(sample.mediaType).toBe("image/png");
      expect(sample.files.map((f) => [f.role, f.mediaType])).toEqual([
        ["dicom", "application/dicom"],
        ["ground-truth", "application/json"],
        ["segmentation", "application/dicom"],
      ]);
    }
  });

  it("derives UIDs from the job and sample, dates from the job's creation, and keeps the PNG's pixels", async () => {
    const [first, second] = samples as [GeneratedArtifact, GeneratedArtifact];
    const dicom = (s: GeneratedArtifact) => s.files.find((f) => f.role === "dicom")!.bytes;
    const a = dicomParser.parseDicom(dicom(first));
    const b = dicomParser.parseDicom(dicom(second));
    const names = jobSampleUidNames(jobId, 0);
    expect(a.string("x0020000d")).toBe(uidFromName(names.study));
    expect(a.string("x0020000e")).toBe(uidFromName(names.series));
    expect(a.string("x00080018")).toBe(uidFromName(names.instance));
    // One study and series per job, one instance per sample.
    expect(b.string("x0020000d")).toBe(a.string("x0020000d"));
    expect(b.string("x0020000e")).toBe(a.string("x0020000e"));
    expect(b.string("x00080018")).not.toBe(a.string("x00080018"));
    expect(a.string("x00080023")).toBe("20260304");
    expect(a.string("x00080060")).toBe("MR");
    expect(a.string("x0008001c")).toBe("YES");
    expect(JSON.parse(a.string("x00091001") ?? "{}")).toEqual(first.record);

    const image = await readDicom(dicom(first));
    const png = decodePng(first.bytes);
    expect(Array.from(image.pixels)).toEqual(Array.from(png.data));

    const groundTruth = JSON.parse(new TextDecoder().decode(first.files.find((f) => f.role === "ground-truth")!.bytes));
    expect(groundTruth.image.sopInstanceUid).toBe(a.string("x00080018"));
    expect(groundTruth.lesions[0].label).toBe("haemorrhage");
  });

  it("regenerates every file byte for byte from the record alone", async () => {
    for (const sample of samples) {
      const again = await reproduceFromRecord(JSON.parse(JSON.stringify(sample.record)), `${ROOT}models`, { intraOpThreads: 1 });
      expect(again.sha256).toBe(sample.sha256);
      expect(again.files.map((f) => f.sha256)).toEqual(sample.files.map((f) => f.sha256));
    }
  });

  it("passes dciodvfy, dcmdump and pydicom (image and segmentation)", () => {
    for (const sample of samples) {
      for (const file of sample.files.filter((f) => f.mediaType === "application/dicom")) {
        const target = path.join(directory, `${sample.index}-${file.role}.dcm`);
        writeFileSync(target, file.bytes);
        const report = checkConformance(target);
        expect(report.problems, `${file.role}`).toEqual([]);
        if (report.iod !== undefined) expect(report.iod).toBe(file.role === "dicom" ? "SCImage" : "Segmentation");
        if (file.role === "dicom" && report.pydicomPixels) expect(report.pydicomPixels).toEqual(Array.from(decodePng(sample.bytes).data));
      }
    }
  });
});
