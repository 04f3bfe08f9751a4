// bench/feedback/insertion.ts: what a manifest's feedback does to pathologies inserted into scans (insertPathology),
// where the ring it reads is the scan's tissue, not the model's. training/insertion_contrast.py scans renders the
// slices (the renderer's anatomy, no pathology) and the requests; this writes each slice as a DICOM (MR_small's
// header with these pixels and its own instance UID), uploads it, and inserts every request through
// ReferenceScanService.insertPathology at the product defaults (the model's sampler, steps and guidance; seed = the
// request's index), once with the shipped package and once with its feedback stripped from the manifest. The
// inserted images (stored values) go to training/data/insertion-results.json for `insertion_contrast.py report`.
//
//   /usr/bin/python3 training/insertion_contrast.py scans
//   node --import tsx bench/feedback/insertion.ts [--model brain-mri]
//   /usr/bin/python3 training/insertion_contrast.py report
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import dcmjs from "dcmjs";
import { openDatabase } from "../../src/db/index.ts";
import { readDicom } from "../../src/imaging/dicom/index.ts";
import { ArtifactStore } from "../../src/storage/index.ts";
import { ReferenceScanService } from "../../src/uploads/index.ts";
import { optionReader } from "../options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const option = optionReader(process.argv.slice(2));
const modelName = option("model", "brain-mri");
const scansPath = path.join(root, "training/data/insertion-scans.json");
const outPath = path.join(root, "training/data/insertion-results.json");
const template = path.join(root, "../shared/data/dicom/MR_small.dcm");
for (const needed of [scansPath, template]) if (!existsSync(needed)) throw new Error(`${needed} is missing (see the header of this file)`);

interface Request { slice: number; pathology: string; lesionX: number; lesionY: number; lesionRadius: number; lesionContrast: number }
const scans = JSON.parse(readFileSync(scansPath, "utf8")) as { slices: number[][]; requests: Request[] };

/** Slice i as a Part 10 file: MR_small's attributes (64x64, 16-bit), these pixels, its own SOP Instance UID. */
function sliceDicom(pixels: number[], index: number): Uint8Array {
  const dicom = dcmjs.data.DicomMessage.readFile(readFileSync(template).buffer.slice(0) as ArrayBuffer);
  const uid = `2.25.${BigInt(1_000_000 + index) * 7919n}`;
  dicom.dict["7FE00010"]!.Value = [Uint16Array.from(pixels).buffer];
  dicom.dict["00080018"]!.Value = [uid];
  dicom.meta["00020003"]!.Value = [uid];
  return new Uint8Array(dicom.write());
}

const work = mkdtempSync(path.join(os.tmpdir(), "rareforge-insertion-feedback-"));
try {
  // The same package with its feedback stripped: a models directory of its own, the manifest edited.
  const plainModels = path.join(work, "models");
  cpSync(path.join(root, "models", modelName), path.join(plainModels, modelName), { recursive: true });
  const manifestPath = path.join(plainModels, modelName, "model.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { version: string; defaults: unknown; condition: { fields: { feedback?: unknown }[] } };
  const held = manifest.condition.fields.filter((f) => f.feedback).length;
  if (held === 0) throw new Error(`${modelName} has no feedback to compare against`);
  for (const field of manifest.condition.fields) delete field.feedback;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));

  const db = await openDatabase({ kind: "pglite" });
  await db.migrate();
  const store = new ArtifactStore(path.join(work, "artifacts"));
  const settings = { maxUploadBytes: 1 << 20, maxImagePixels: 40_000_000, dataDir: work, executionProvider: "cpu", onnxThreads: 1 };
  const services = {
    feedback: new ReferenceScanService(db, store, { ...settings, modelsDir: path.join(root, "models") }),
    plain: new ReferenceScanService(db, store, { ...settings, modelsDir: plainModels }),
  };
  const scanIds: string[] = [];
  for (const [i, pixels] of scans.slices.entries()) scanIds.push((await services.feedback.upload(sliceDicom(pixels, i))).id);

  const results: Record<"feedback" | "plain", number[][]> = { feedback: [], plain: [] };
  const started = performance.now();
  for (const [i, r] of scans.requests.entries()) {
    // the region: the lesion's disc with a margin, in scan pixels (the service regenerates the disc within it)
    const [cx, cy, radius] = [r.lesionX * 64, r.lesionY * 64, r.lesionRadius * 64 * 1.4];
    const x = Math.max(0, Math.floor(cx - radius));
    const y = Math.max(0, Math.floor(cy - radius));
    const region = { kind: "box" as const, x, y, width: Math.min(64, Math.ceil(cx + radius)) - x, height: Math.min(64, Math.ceil(cy + radius)) - y };
    const { slice, ...parameters } = r;
    for (const variant of ["feedback", "plain"] as const) {
      const insertion = await services[variant].insertPathology({ referenceScanId: scanIds[slice]!, region, parameters, model: modelName, seed: i });
      const output = await readDicom(new Uint8Array(readFileSync(store.pathOf(insertion.artifact.sha256))));
      results[variant].push(Array.from(output.pixels as Int32Array));
    }
    if ((i + 1) % 24 === 0) console.log(`${i + 1}/${scans.requests.length} requests inserted (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await db.close();
  writeFileSync(outPath, JSON.stringify({ model: `${modelName} ${manifest.version}`, settings: manifest.defaults, ...results }));
  console.log(`wrote ${path.relative(root, outPath)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
