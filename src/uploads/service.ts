// Reference scans: store an upload once it is de-identified, and inpaint a pathology into a stored scan.
// Both write files to the content-addressed store first and then their rows in one transaction; a failure
// removes the files no row points at, so a refusal or a crash mid-way leaves no row and no orphan file.
import { randomUUID } from "node:crypto";
import { encode as encodePng } from "fast-png";
import { z } from "zod";
import type { Config } from "../config.ts";
import type { Database, Prisma } from "../db/index.ts";
import type { SamplingSettingsInput } from "../diffusion/index.ts";
import { checkImageHeader, decodeImage, compositeInto, featherWeights, gridMask, maskBounds, regionMask, RegionError, resizePlane, writeMedicalSampleFiles, type CompanionFile, type ScanRegion } from "../imaging/index.ts";
import type { ExecutionProviderName } from "../runtime/index.ts";
import { dataDirectoryKey, requireScope, type Domain } from "../access/index.ts";
import { NotFoundError, ValidationError, type FieldIssue } from "../errors.ts";
import { storedProvenance, type GenerationRecord } from "../provenance/index.ts";
import { readDicom, type DicomImage, type ImagePlaneGeometry } from "../imaging/dicom/index.ts";
import { assertParametersFit, conditionCircles, ConditionError, loadModelPackageAsync, resolveModelDir, type ModelManifest, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import { sha256Of, type ArtifactStore } from "../storage/index.ts";
import { InsertionRefusedError, UploadRefusedError } from "./errors.ts";
import { prepareReferenceScan } from "./prepare.ts";
import { DEFAULT_FEATHER, inpaintOnGrid, openInsertionRuntime, resolveInsertionSettings } from "./inpaint.ts";
import { boxFromPlacement, decodeCameraFrame, hazardLabelOf, insertHazardIntoFrame, type CameraDescription, type FrameBox, type HazardPlacement } from "./hazard.ts";

export interface ReferenceScanSettings {
  maxUploadBytes: number;
  /** Largest PNG/JPEG upload or region mask, in pixels (width × height from the header). */
  maxImagePixels: number;
  /** Holds the de-identification key (secrets/deidentification.key). */
  dataDir: string;
  modelsDir: string;
  executionProvider: string;
  onnxThreads: number;
}

/** Region of a pathology insertion: a box in scan pixels, or a PNG/JPEG mask of the scan's size (white = region). */
export type InsertionRegion = Extract<ScanRegion, { kind: "box" }> | { kind: "mask-image"; bytes: Uint8Array | Blob };

/** An upload's bytes: in memory, or a Blob (a multipart part) whose size is checked before it is read. */
export type UploadSource = Uint8Array | Blob;

const conditionValuesSchema = z.record(z.string(), z.union([z.string(), z.number()]));

/**
 * An insertion's region and condition values from untyped input (GraphQL, CLI): exactly one of a box and a
 * mask image, and an object of condition field -> string or number. Every problem is reported at once.
 */
export function parseInsertionInput(input: {
  box?: { x: number; y: number; width: number; height: number } | null;
  mask?: Uint8Array | Blob | null;
  parameters: unknown;
}): { region: InsertionRegion; parameters: ScenarioParameters } {
  const issues: FieldIssue[] = [];
  if (Boolean(input.box) === Boolean(input.mask)) issues.push({ path: "region", message: "give exactly one of box and mask" });
  const parameters = conditionValuesSchema.safeParse(input.parameters);
  if (!parameters.success) issues.push({ path: "parameters", message: 'give an object of condition field -> string or number, e.g. { pathology: "tumour" }' });
  if (issues.length > 0 || !parameters.success) throw new ValidationError(issues, "invalid pathology insertion");
  const region: InsertionRegion = input.box ? { kind: "box", ...input.box } : { kind: "mask-image", bytes: input.mask as Uint8Array | Blob };
  return { region, parameters: parameters.data };
}

/** A hazard insertion's condition values from untyped input: an object of condition field -> string or number. */
export function parseHazardParameters(input: unknown): ScenarioParameters {
  const parameters = conditionValuesSchema.safeParse(input);
  if (!parameters.success) throw new ValidationError([{ path: "parameters", message: 'give an object of condition field -> string or number, e.g. { hazard: "animal", weather: "fog" }' }], "invalid hazard insertion");
  return parameters.data;
}

/** Reads a Blob after checking its declared size against the limit; bytes pass through. */
async function readBounded(source: UploadSource, limit: number, refuse: (size: number) => Error): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source.size > limit) throw refuse(source.size);
  return new Uint8Array(await source.arrayBuffer());
}

export interface PathologyInsertionRequest extends Omit<SamplingSettingsInput, "batchSize"> {
  referenceScanId: string;
  region: InsertionRegion;
  /** Condition values, e.g. { pathology: "tumour", lesionContrast: 0.8 }; the lesion's centre and radius default to the region's. */
  parameters: ScenarioParameters;
  /** A medical model package (default brain-mri). */
  model?: string | null;
  /** How much of the schedule is re-run inside the region (default 1: regenerated from noise). */
  strength?: number | null;
  /** Width in scan pixels of the band around the region where generated and source pixels are blended (default 3). */
  feather?: number | null;
}

/** The service's settings from the process configuration. */
export function referenceScanSettings(config: Config): ReferenceScanSettings {
  return { maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels, dataDir: config.dataDir, modelsDir: config.modelsDir, executionProvider: config.executionProvider, onnxThreads: config.onnxThreads };
}

export const DEFAULT_INSERTION_MODEL = "brain-mri";
export const DEFAULT_HAZARD_MODEL = "road-hazards";
export { DEFAULT_FEATHER };

export interface HazardInsertionRequest extends Omit<SamplingSettingsInput, "batchSize"> {
  /** A reference upload of the AUTOMOTIVE domain (a PNG/JPEG camera frame). */
  referenceScanId: string;
  /** The hazard's box in frame pixels; it is the ground-truth box. Or give a placement and the camera. */
  box?: FrameBox | null;
  /** Where the hazard stands on the road (contact column, distance or contact row), turned into its box with the camera. */
  placement?: HazardPlacement | null;
  /** The frame's camera, for a placement. */
  camera?: CameraDescription | null;
  /** hazard (a class of the model), weather, timeOfDay. */
  parameters: ScenarioParameters;
  /** An automotive model package (default road-hazards). */
  model?: string | null;
  /** Width in frame pixels of the blend band around the box (default 3). */
  feather?: number | null;
}

/** The key behind replacement UIDs and pseudonyms: made once per data directory, never logged or stored in the database. */
export function deidentificationKey(dataDir: string): Promise<Uint8Array> {
  return dataDirectoryKey(dataDir, "deidentification.key");
}

export class ReferenceScanService {
  private key: Promise<Uint8Array> | undefined;

  constructor(
    private readonly db: Database,
    private readonly store: ArtifactStore,
    private readonly settings: ReferenceScanSettings,
  ) {}

  /**
   * De-identifies (DICOM) or strips metadata (PNG/JPEG), then stores the file and its ReferenceScan row.
   * `recordOrigin` writes rows about the scan's origin (a PACS import) in the same transaction.
   */
  async upload(source: UploadSource, options: { domain?: Domain | null; recordOrigin?: (tx: Prisma.TransactionClient, referenceScanId: string) => Promise<void> } = {}) {
    const limit = this.settings.maxUploadBytes;
    const bytes = await readBounded(source, limit, (size) => new UploadRefusedError("TOO_LARGE", `the uploaded file has ${size} bytes; the limit is ${limit} (RAREFORGE_MAX_UPLOAD_BYTES)`));
    this.key ??= deidentificationKey(this.settings.dataDir);
    const prepared = await prepareReferenceScan(bytes, { maxBytes: this.settings.maxUploadBytes, maxImagePixels: this.settings.maxImagePixels, key: await this.key });
    // a DICOM scan is medical data; a PNG/JPEG is medical unless uploaded as an automotive camera frame
    const domain: Domain = options.domain ?? "MEDICAL";
    if (prepared.kind === "DICOM" && domain !== "MEDICAL") throw new UploadRefusedError("UNSUPPORTED_TYPE", "a DICOM file is a medical scan; upload camera frames (AUTOMOTIVE) as PNG or JPEG");
    requireScope(domain, "domain", domain);
    const id = randomUUID();
    return this.storeThenCommit([{ bytes: prepared.bytes, mediaType: prepared.mediaType }], async (tx, artifactIds) => {
      const scan = await tx.referenceScan.create({
        data: {
          id,
          kind: prepared.kind,
          domain,
          artifactId: artifactIds.get(sha256Of(prepared.bytes))!,
          modality: prepared.modality,
          rows: prepared.rows,
          columns: prepared.columns,
          studyInstanceUid: prepared.uids?.study ?? null,
          seriesInstanceUid: prepared.uids?.series ?? null,
          sopInstanceUid: prepared.uids?.sopInstance ?? null,
          sopClassUid: prepared.uids?.sopClass ?? null,
          transferSyntaxUid: prepared.transferSyntaxUid,
          ...(prepared.deidentification ? { deidentification: prepared.deidentification as unknown as Prisma.InputJsonValue } : {}),
        },
        include: { artifact: true },
      });
      await options.recordOrigin?.(tx, scan.id);
      return scan;
    });
  }

  /**
   * Inpaints a pathology into a stored DICOM scan: the scan is resized to the model's grid, the lesion's
   * disc within the region (and a feathered band around it) regenerated with the pathology condition, and
   * the result composited back at the scan's resolution, so pixels beyond the band are the source's
   * exactly. The output is a DICOM in the source's (de-identified) study, a new series, referencing the
   * source via Source Image Sequence.
   */
  async insertPathology(request: PathologyInsertionRequest) {
    const scan = await this.db.prisma.referenceScan.findUnique({ where: { id: request.referenceScanId }, include: { artifact: true } });
    if (!scan) throw new NotFoundError("reference scan", request.referenceScanId);
    if (scan.kind !== "DICOM" || !scan.sopInstanceUid || !scan.sopClassUid || !scan.studyInstanceUid) {
      throw new InsertionRefusedError("SCAN_NOT_DICOM", `reference scan ${scan.id} is ${scan.kind}; pathologies are inserted into DICOM scans (the result references its source)`);
    }
    const model = await this.medicalModel(request.model ?? DEFAULT_INSERTION_MODEL);
    const manifest = model.manifest;
    const strength = request.strength ?? 1;
    const { settings, feather } = resolveInsertionSettings(request, model, this.defaultProvider, "invalid pathology insertion");
    const ep = settings.executionProvider;
    const source = await readDicom(await this.store.readBytes(scan.artifact.sha256));
    const pixels = checkScan(source, manifest);
    const { rows, columns } = source;

    // 1. The region the user allows to change.
    let region: Uint8Array;
    let scanRegion: { region: ScanRegion; maskSha256?: string };
    try {
      scanRegion = await this.regionOf(request.region, rows, columns);
      region = regionMask(scanRegion.region, rows, columns);
    } catch (error) {
      if (error instanceof RegionError) throw new InsertionRefusedError("REGION", error.message);
      throw error;
    }

    // 2. The condition: the lesion sits in the region unless the request places it.
    const parameters = { ...lesionDefaults(manifest, region, rows, columns), ...request.parameters };
    try {
      assertParametersFit(manifest, parameters);
    } catch (error) {
      if (error instanceof ConditionError) throw new ValidationError([{ path: "parameters", message: error.message }], "invalid pathology insertion");
      throw error;
    }

    // 3. What is replaced: the lesion's disc (with a margin for its rim) within the region, then a feathered
    //    band; the rest of the region keeps the real tissue. The model-grid mask covers all of it.
    const mask = lesionWithinRegion(manifest, parameters, region, rows, columns);
    if (!mask.some((v) => v === 1)) throw new InsertionRefusedError("REGION", "the lesion placed by the parameters does not overlap the region");
    const weights = featherWeights(mask, rows, columns, feather);
    const { width: gridWidth, height: gridHeight, valueRange, storedRange } = manifest.image;
    const grid = gridMask(weights, rows, columns, gridWidth, gridHeight);

    // 4. Scan values -> the model's stored range: the scan's own range is stretched over it, so the model
    //    sees the contrast it was trained on (scanner units differ from scan to scan), and the generated
    //    values are mapped back the same way. The reference is a 16-bit PNG in stored units (the pipeline
    //    reads such a PNG as the manifest's storedRange says).
    const [storedLo, storedHi] = storedRange!;
    let scanLo = Infinity;
    let scanHi = -Infinity;
    for (const v of pixels) {
      if (v < scanLo) scanLo = v;
      if (v > scanHi) scanHi = v;
    }
    if (scanHi === scanLo) throw new InsertionRefusedError("SCAN_UNSUPPORTED", `the scan is a flat image (every pixel ${scanLo}); there is no anatomy to inpaint into`);
    const toStored = (v: number) => storedLo + ((v - scanLo) * (storedHi - storedLo)) / (scanHi - scanLo);
    const reference = encodePng({ width: columns, height: rows, channels: 1, depth: 16, data: Uint16Array.from(pixels, (v) => Math.round(toStored(v))) });
    const maskPng = encodePng({ width: gridWidth, height: gridHeight, channels: 1, depth: 8, data: grid.map((v) => v * 255) });

    const id = randomUUID();
    const createdAt = new Date();
    const regionRecord = request.region.kind === "box" ? { ...request.region } : { kind: "mask", sha256: scanRegion.maskSha256, pixels: region.reduce((n, v) => n + v, 0) };
    const runtime = await this.openRuntime(model, ep);
    let record: GenerationRecord;
    let generated: Float32Array;
    try {
      ({ record, image: generated } = await inpaintOnGrid({
        model,
        runtime,
        settings,
        parameters,
        reference,
        mask: maskPng,
        strength,
        what: "invalid pathology insertion",
        recordExtras: {
          pathologyInsertion: {
            id,
            createdAt: createdAt.toISOString(),
            referenceScan: { id: scan.id, sopInstanceUid: scan.sopInstanceUid, sha256: scan.artifact.sha256 },
            region: regionRecord,
            feather,
            scanToStoredRange: [scanLo, scanHi],
          },
        },
      }));
    } finally {
      await runtime.dispose();
    }

    // 5. Model space -> stored units -> scan values, upsampled to the scan, blended in the band only.
    const [valueLo, valueHi] = valueRange;
    const inScanUnits = generated.map((x) => {
      const stored = storedLo + ((x - valueLo) / (valueHi - valueLo)) * (storedHi - storedLo);
      return scanLo + ((stored - storedLo) * (scanHi - scanLo)) / (storedHi - storedLo);
    });
    const upsampled = resizePlane(inScanUnits, gridWidth, gridHeight, columns, rows);
    const output = compositeInto(pixels, upsampled, weights, 0, 65535);

    const summary = source.summary;
    const files = writeMedicalSampleFiles({
      pixels: output,
      rows,
      columns,
      modality: summary.modality ?? manifest.image.modality ?? "OT",
      record,
      model: { name: manifest.name, version: manifest.version },
      lesions: conditionCircles(manifest, parameters),
      uidNames: insertionUidNames(id),
      instanceNumber: 1,
      createdAt,
      seriesDescription: `RareForge ${String(parameters.pathology ?? "pathology")} inserted`,
      source: {
        sopClassUid: scan.sopClassUid,
        sopInstanceUid: scan.sopInstanceUid,
        studyUid: scan.studyInstanceUid,
        ...(summary.patientName !== undefined ? { patientName: summary.patientName } : {}),
        ...(summary.patientId !== undefined ? { patientId: summary.patientId } : {}),
        ...(geometryOf(source) ? { geometry: geometryOf(source)! } : {}),
      },
      ...(source.windowCenter !== undefined && source.windowWidth !== undefined && source.windowWidth >= 1 ? { window: { center: source.windowCenter, width: source.windowWidth } } : {}),
    });
    const companions: CompanionFile[] = [files.preview, files.groundTruth, ...(files.segmentation ? [files.segmentation] : [])];
    return this.storeThenCommit([files.dicom, ...companions], (tx, artifactIds) =>
      tx.pathologyInsertion.create({
        data: {
          id,
          referenceScanId: scan.id,
          region: regionRecord as Prisma.InputJsonValue,
          parameters: parameters as Prisma.InputJsonValue,
          provenance: storedProvenance(record) as unknown as Prisma.InputJsonValue,
          artifactId: artifactIds.get(sha256Of(files.dicom.bytes))!,
          files: companions.map((f) => ({ role: f.role, sha256: sha256Of(f.bytes), mediaType: f.mediaType, byteSize: f.bytes.byteLength })),
          createdAt,
        },
        include: { artifact: true, referenceScan: true },
      }),
    );
  }

  /**
   * Inpaints a road hazard into a stored camera frame (insertHazardIntoFrame) and stores the PNG, its
   * ground-truth JSON and the HazardInsertion row in one transaction; a refusal stores nothing.
   */
  async insertHazard(request: HazardInsertionRequest) {
    const frame = await this.db.prisma.referenceScan.findUnique({ where: { id: request.referenceScanId }, include: { artifact: true } });
    if (!frame) throw new NotFoundError("reference scan", request.referenceScanId);
    if (frame.kind === "DICOM") throw new InsertionRefusedError("FRAME_IS_DICOM", `reference scan ${frame.id} is a DICOM scan; hazards are inserted into PNG/JPEG camera frames`);
    if (frame.domain !== "AUTOMOTIVE") throw new InsertionRefusedError("FRAME_NOT_AUTOMOTIVE", `reference image ${frame.id} was uploaded as ${frame.domain} data; upload the camera frame with domain AUTOMOTIVE`);
    const model = await this.loadModel(request.model ?? DEFAULT_HAZARD_MODEL);
    hazardLabelOf(model);
    const { settings, feather } = resolveInsertionSettings(request, model, this.defaultProvider, "invalid hazard insertion");
    const camera = decodeCameraFrame(await this.store.readBytes(frame.artifact.sha256), this.settings.maxImagePixels);
    if (Boolean(request.box) === Boolean(request.placement)) throw new ValidationError([{ path: "box", message: "give exactly one of box and placement" }], "invalid hazard insertion");
    const placementCamera = request.placement ? (request.camera ?? (await this.storedCamera(frame.id))) : null;
    const box = request.box ?? boxFromPlacement(request.placement!, placementCamera, String(request.parameters["hazard"]), camera);
    const id = randomUUID();
    const createdAt = new Date();
    const runtime = await this.openRuntime(model, settings.executionProvider);
    let result;
    try {
      result = await insertHazardIntoFrame({
        frame: camera,
        frameSha256: frame.artifact.sha256,
        box,
        parameters: request.parameters,
        model,
        runtime,
        settings,
        feather,
        // no id or time in the embedded record: the same frame, box, condition and seed give the same bytes
        recordExtras: { referenceScanId: frame.id, ...(request.placement ? { placement: { ...request.placement }, camera: { ...placementCamera } } : {}) },
      });
    } finally {
      await runtime.dispose();
    }
    const groundTruth = new TextEncoder().encode(`${JSON.stringify(result.groundTruth, null, 2)}\n`);
    const companions = [{ role: "ground-truth", bytes: groundTruth, mediaType: "application/json" }];
    const stored = await this.storeThenCommit([{ bytes: result.png, mediaType: "image/png" }, ...companions], (tx, artifactIds) =>
      tx.hazardInsertion.create({
        data: {
          id,
          referenceScanId: frame.id,
          box: { ...box } as Prisma.InputJsonValue,
          parameters: result.parameters as Prisma.InputJsonValue,
          groundTruth: result.groundTruth as unknown as Prisma.InputJsonValue,
          provenance: storedProvenance(result.record) as unknown as Prisma.InputJsonValue,
          artifactId: artifactIds.get(sha256Of(result.png))!,
          files: companions.map((f) => ({ role: f.role, sha256: sha256Of(f.bytes), mediaType: f.mediaType, byteSize: f.bytes.byteLength })),
          createdAt,
        },
        include: { artifact: true, referenceScan: true },
      }),
    );
    return Object.assign(stored, { timings: result.timings, window: result.window });
  }

  /**
   * The camera stored for a frame in its reference sets (the frame's own, else its set's), when the sets agree on
   * one; null when it is in none or has none. Sets that disagree are refused: the request must say which camera.
   */
  private async storedCamera(referenceScanId: string): Promise<CameraDescription | null> {
    const memberships = await this.db.prisma.referenceSetFrame.findMany({ where: { referenceScanId }, include: { set: { select: { name: true, camera: true } } } });
    const cameras = memberships.flatMap((m) => ((m.camera ?? m.set.camera) ? [{ set: m.set.name, camera: (m.camera ?? m.set.camera) as unknown as CameraDescription }] : []));
    if (new Set(cameras.map((c) => JSON.stringify(c.camera))).size > 1)
      throw new InsertionRefusedError("CAMERA_REQUIRED", `frame ${referenceScanId} has different cameras in reference sets ${cameras.map((c) => c.set).join(", ")}; give the camera with the placement`);
    return cameras[0]?.camera ?? null;
  }

  private async loadModel(name: string): Promise<ModelPackage> {
    try {
      // read and hashed asynchronously: a request must not block the service while a 12 MB denoiser is hashed
      return await loadModelPackageAsync(resolveModelDir(name, this.settings.modelsDir));
    } catch (error) {
      throw new InsertionRefusedError("MODEL_UNSUITABLE", `model ${name} cannot be loaded: ${(error as Error).message}`);
    }
  }

  private get defaultProvider(): ExecutionProviderName {
    return this.settings.executionProvider as ExecutionProviderName;
  }

  private openRuntime(model: ModelPackage, ep: ExecutionProviderName) {
    return openInsertionRuntime(model, ep, this.defaultProvider, this.settings.onnxThreads);
  }

  private async medicalModel(name: string): Promise<ModelPackage> {
    const model = await this.loadModel(name);
    const { manifest } = model;
    if (manifest.domain !== "medical" || !manifest.image.storedRange || manifest.image.channels !== 1 || manifest.latent) {
      throw new InsertionRefusedError("MODEL_UNSUITABLE", `model ${name} is not a pixel-space single-channel medical model with a stored range; inpainting a scan needs one`);
    }
    return model;
  }

  /** The region on the scan's grid, and for a mask image the sha256 of its bytes (for the record). */
  private async regionOf(region: InsertionRegion, rows: number, columns: number): Promise<{ region: ScanRegion; maskSha256?: string }> {
    if (region.kind === "box") return { region };
    const limit = this.settings.maxUploadBytes;
    const bytes = await readBounded(region.bytes, limit, (size) => new ValidationError([{ path: "mask", message: `the mask has ${size} bytes; the limit is ${limit}` }]));
    // the header's size is checked against the scan's before a pixel is decoded
    let image;
    try {
      const header = checkImageHeader(bytes, "region mask", this.settings.maxImagePixels);
      if (header.width !== columns || header.height !== rows) throw new RegionError(`region mask is ${header.width}x${header.height}; the scan is ${columns}x${rows}`);
      image = decodeImage(bytes, "region mask", this.settings.maxImagePixels);
    } catch (error) {
      if (error instanceof RegionError) throw error;
      throw new RegionError((error as Error).message);
    }
    const plane = rows * columns;
    const mask = new Uint8Array(plane);
    for (let p = 0; p < plane; p++) mask[p] = (image.data[p] ?? 0) >= 0.5 ? 1 : 0;
    return { region: { kind: "mask", mask }, maskSha256: sha256Of(bytes) };
  }

  /** Writes the files, then the row in one transaction; on any failure removes the files no row refers to. */
  private async storeThenCommit<T>(
    files: { bytes: Uint8Array; mediaType: string }[],
    createRow: (tx: Prisma.TransactionClient, artifactIds: Map<string, string>) => Promise<T>,
  ): Promise<T> {
    const hashes: string[] = [];
    try {
      for (const file of files) hashes.push((await this.store.put(file.bytes)).sha256);
      return await this.db.prisma.$transaction(async (tx) => {
        await tx.artifact.createMany({ data: files.map((f) => ({ sha256: sha256Of(f.bytes), mediaType: f.mediaType, byteSize: f.bytes.byteLength })), skipDuplicates: true });
        const ids = new Map((await tx.artifact.findMany({ where: { sha256: { in: hashes } }, select: { id: true, sha256: true } })).map((a) => [a.sha256, a.id]));
        return createRow(tx, ids);
      });
    } catch (error) {
      for (const sha256 of hashes) {
        if ((await this.db.prisma.artifact.count({ where: { sha256 } })) === 0) await this.store.remove(sha256);
      }
      throw error;
    }
  }
}

/** UID names of an insertion's output: a new series in the source's study. */
export function insertionUidNames(insertionId: string) {
  const name = `rareforge:pathology-insertion:${insertionId}`;
  return { study: `${name}:study`, series: `${name}:series`, instance: `${name}:image`, segmentationSeries: `${name}:segmentation-series`, segmentation: `${name}:segmentation` };
}

/** The scan's pixels if the insertion can keep them exactly: one grey frame of integers in 0..65535. */
function checkScan(image: DicomImage, manifest: ModelManifest): Int32Array {
  const refuse = (message: string): never => {
    throw new InsertionRefusedError("SCAN_UNSUPPORTED", message);
  };
  if (image.samplesPerPixel !== 1 || image.photometricInterpretation !== "MONOCHROME2") refuse(`the scan is ${image.photometricInterpretation}; inserting needs a MONOCHROME2 grey image`);
  if (image.numberOfFrames !== 1) refuse(`the scan has ${image.numberOfFrames} frames; inserting works on single-frame images`);
  if (image.rescaleSlope !== 1 || image.rescaleIntercept !== 0) refuse(`the scan has Rescale Slope ${image.rescaleSlope} / Intercept ${image.rescaleIntercept}; the output is written in stored values, so only an identity rescale keeps the source pixels exact`);
  if (!(image.pixels instanceof Int32Array)) refuse("the scan's values are not integers");
  const pixels = image.pixels as Int32Array;
  for (const v of pixels) if (v < 0 || v > 65535) refuse(`the scan has value ${v}; the output is 16-bit unsigned (0..65535)`);
  const modality = image.summary.modality;
  if (modality && manifest.image.modality && modality !== manifest.image.modality) {
    throw new InsertionRefusedError("MODEL_UNSUITABLE", `the scan's modality is ${modality}; model ${manifest.name} makes ${manifest.image.modality} images`);
  }
  return pixels;
}

function geometryOf(image: DicomImage): ImagePlaneGeometry | undefined {
  const s = image.summary;
  if (!s.pixelSpacing || s.sliceThickness === undefined || !s.imagePositionPatient || !s.imageOrientationPatient || !s.frameOfReferenceUid) return undefined;
  return { pixelSpacing: s.pixelSpacing, sliceThickness: s.sliceThickness, imagePositionPatient: s.imagePositionPatient, imageOrientationPatient: s.imageOrientationPatient, frameOfReferenceUid: s.frameOfReferenceUid };
}

/** Margin around the lesion's nominal radius that is regenerated too (rim, oedema, mass effect). */
const LESION_MARGIN = 1.3;

/** The region's pixels within LESION_MARGIN × radius of a lesion centre the condition asks for (the whole region when it asks for none). */
function lesionWithinRegion(manifest: ModelManifest, parameters: ScenarioParameters, region: Uint8Array, rows: number, columns: number): Uint8Array {
  const circles = conditionCircles(manifest, parameters);
  if (circles.length === 0) return region;
  const mask = new Uint8Array(rows * columns);
  for (const circle of circles) {
    const cx = circle.cx * columns;
    const cy = circle.cy * rows;
    const reach = circle.radius * columns * LESION_MARGIN;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) {
        const i = r * columns + c;
        const dx = c + 0.5 - cx;
        const dy = r + 0.5 - cy;
        if (region[i] && dx * dx + dy * dy <= reach * reach) mask[i] = 1;
      }
    }
  }
  return mask;
}

/** Centre and radius fields of the manifest's circle label, set from the region (clamped to the field's range). */
function lesionDefaults(manifest: ModelManifest, mask: Uint8Array, rows: number, columns: number): ScenarioParameters {
  const rule = manifest.labels.find((r) => r.kind === "circle");
  if (!rule || rule.kind !== "circle") return {};
  const bounds = maskBounds(mask, rows, columns);
  const clampTo = (name: string, value: number) => {
    const field = manifest.condition.fields.find((f) => f.name === name);
    return field && field.kind === "scalar" ? Math.min(field.range[1], Math.max(field.range[0], value)) : value;
  };
  const radius = Math.min(bounds.xMax - bounds.xMin, bounds.yMax - bounds.yMin) / 2;
  return {
    [rule.cx]: clampTo(rule.cx, (bounds.xMin + bounds.xMax) / 2 / columns),
    [rule.cy]: clampTo(rule.cy, (bounds.yMin + bounds.yMax) / 2 / rows),
    [rule.radius]: clampTo(rule.radius, radius / columns),
  };
}

