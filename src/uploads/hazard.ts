// A road hazard inpainted into a camera frame at full resolution. The model sees a square context window around
// the requested box, scaled to its grid, with the box where its condition says; it regenerates the box (and a
// feathered band) only, the patch is matched to the frame's colours around it, scaled back and blended in. Every
// frame pixel outside the box and its band is copied, never computed, so it is the source's bit for bit.
import { ValidationError } from "../errors.ts";
import type { ModelRuntime, SamplingSettings } from "../diffusion/index.ts";
import { compositeInto, decodeImage, type PngBands, type PngPixels, distanceToRegion, encodeLargePng, encodePngBands, encodeStoredPng, featherWeights, gridMask, ImageDecodeError, matchColourStatistics, type PixelRect, regionMask, resizePlane } from "../imaging/index.ts";
import { ConditionError, assertParametersFit, type ModelPackage, type ScenarioParameters } from "../models/index.ts";
import type { GenerationRecord } from "../provenance/index.ts";
import { InsertionRefusedError } from "./errors.ts";
import { inpaintOnGrid } from "./inpaint.ts";

/** A box in frame pixels: x = first column, y = first row. */
export interface FrameBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An 8-bit RGB camera frame, planar (one Uint8Array per channel, row-major). */
export interface CameraFrame {
  width: number;
  height: number;
  planes: [Uint8Array, Uint8Array, Uint8Array];
  /** The same pixels interleaved (RGB, row by row), as a full-frame PNG stores them: an insertion copies it. */
  interleaved: Uint8Array;
}

/** The square part of the frame the model sees, in frame pixels. */
export interface CropWindow {
  x: number;
  y: number;
  size: number;
}

/** The smallest box side accepted: below it the model's grid has no room for an object. */
export const MIN_HAZARD_BOX_PIXELS = 8;
/**
 * Where the box sits in the window, as the model was trained (training/procedural/road.py): the longer side
 * about a quarter of the image, the object's foot on the road in the lower part of the picture.
 */
const BOX_SHARE_OF_WINDOW = 0.25;
const FOOT_ROW_IN_WINDOW = 0.75;

/** The condition field of the model's box label and its hazard classes. */
export interface HazardLabel {
  classField: string;
  classes: readonly string[];
  box: { cx: string; cy: string; w: string; h: string };
  absentWhen: readonly string[];
}

/** A model that can inpaint a hazard: automotive, RGB, pixel space, with a box label whose class is categorical. */
export function hazardLabelOf(model: ModelPackage): HazardLabel {
  const manifest = model.manifest;
  const refuse = (why: string): never => {
    throw new InsertionRefusedError("MODEL_UNSUITABLE", `model ${manifest.name} cannot insert a hazard: ${why}`);
  };
  if (manifest.domain !== "automotive") refuse(`it is a ${manifest.domain} model`);
  if (manifest.image.channels !== 3) refuse(`it makes ${manifest.image.channels}-channel images; camera frames are RGB`);
  // an Optimum export inpaints in latent space through its VAE encoder
  if (manifest.latent && !model.optimum?.parts.vaeEncoder) refuse("it is a latent model without an encoder; inpainting needs a pixel-space model or an export with vae_encoder");
  const rule = manifest.labels.find((r) => r.kind === "box");
  if (!rule || rule.kind !== "box") return refuse("its labels have no box");
  const field = manifest.condition.fields.find((f) => f.name === rule.class);
  if (!field || field.kind !== "categorical") return refuse(`its box class ${rule.class} is not a categorical condition field`);
  return { classField: rule.class, classes: field.values, box: { cx: rule.cx, cy: rule.cy, w: rule.w, h: rule.h }, absentWhen: rule.absentWhen ?? [] };
}

/** Decodes a PNG/JPEG frame; 8-bit only (a 16-bit frame could not come back bit for bit in the 8-bit result). */
export function decodeCameraFrame(bytes: Uint8Array, maxPixels: number): CameraFrame {
  let image;
  try {
    image = decodeImage(bytes, "camera frame", maxPixels);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw new InsertionRefusedError("FRAME_UNSUPPORTED", error.message);
    throw error;
  }
  if ((image.bitDepth ?? 8) !== 8) throw new InsertionRefusedError("FRAME_UNSUPPORTED", `the frame has ${image.bitDepth} bits per sample; hazards are inserted into 8-bit frames`);
  const plane = image.width * image.height;
  // a plain loop: Uint8Array.from with a mapping callback took 0.9 s on a 1280×720 frame (BENCHMARKS.md)
  const planes = [0, 1, 2].map((c) => {
    const offset = (image.channels === 3 ? c : 0) * plane;
    const out = new Uint8Array(plane);
    for (let p = 0; p < plane; p++) out[p] = Math.round(image.data[offset + p]! * 255);
    return out;
  }) as CameraFrame["planes"];
  return { width: image.width, height: image.height, planes, interleaved: interleave(planes, plane) };
}

/** Checks the box against the frame: whole pixels, inside it, each side at least MIN_HAZARD_BOX_PIXELS. */
export function checkHazardBox(box: FrameBox, frame: { width: number; height: number }): void {
  for (const [name, value] of Object.entries(box)) {
    if (!Number.isInteger(value)) throw new InsertionRefusedError("REGION", `box ${name} must be a whole number of pixels, got ${value}`);
  }
  if (box.x < 0 || box.y < 0 || box.x + box.width > frame.width || box.y + box.height > frame.height) {
    throw new InsertionRefusedError("REGION", `box x=${box.x} y=${box.y} ${box.width}x${box.height} does not fit the ${frame.width}x${frame.height} frame`);
  }
  if (box.width < MIN_HAZARD_BOX_PIXELS || box.height < MIN_HAZARD_BOX_PIXELS) {
    throw new InsertionRefusedError("REGION", `box ${box.width}x${box.height} is smaller than the minimum ${MIN_HAZARD_BOX_PIXELS}x${MIN_HAZARD_BOX_PIXELS} pixels`);
  }
}

/**
 * A camera looking along a flat road: a level pinhole camera without roll, which is what a horizon row, a mounting
 * height and a focal length describe. Enough to stand an object of known size on the road at a distance.
 * Optionally the ground plane's homography to the image, for a camera that is not level.
 */
export interface CameraDescription {
  /** The frame row of the horizon (the road's vanishing line). */
  horizonRow: number;
  /** Height of the camera above the road, in metres. */
  heightM: number;
  /** Focal length in frame pixels. */
  focalLengthPx: number;
  /**
   * Row-major 3×3 homography from road coordinates (X metres to the right of the camera's axis, Z metres ahead, 1)
   * to frame pixels (column, row, 1); when given, it places objects instead of the level pinhole.
   */
  groundToImage?: readonly number[] | null;
}

/**
 * Where a hazard stands: the contact point's column (`x`) or its lateral offset from the camera's axis in metres
 * (`lateralM`), and its distance in metres (or the contact row).
 */
export interface HazardPlacement {
  x?: number | null;
  lateralM?: number | null;
  distanceM?: number | null;
  /** The contact point's row instead of a distance: it must lie below the horizon. */
  row?: number | null;
}

/**
 * Typical size of each road class as a forward camera sees it, in metres (width, height): an adult walking, a
 * cyclist from behind, a deer side-on, a tyre or crate, a traffic cone, a car from behind.
 */
export const TYPICAL_SIZE_M: Readonly<Record<string, { width: number; height: number }>> = {
  pedestrian: { width: 0.5, height: 1.7 },
  cyclist: { width: 0.6, height: 1.75 },
  animal: { width: 1.6, height: 1.3 },
  debris: { width: 0.7, height: 0.35 },
  cone: { width: 0.35, height: 0.7 },
  vehicle: { width: 1.8, height: 1.5 },
};

const given = (v: number | null | undefined): v is number => v !== undefined && v !== null;

/** Checks a camera description: finite numbers, a positive height and focal length, a 3×3 homography. */
export function checkCamera(camera: CameraDescription): void {
  for (const name of ["horizonRow", "heightM", "focalLengthPx"] as const) {
    const value = camera[name];
    if (!Number.isFinite(value) || (name !== "horizonRow" && value <= 0)) throw new InsertionRefusedError("PLACEMENT", `camera ${name} must be a ${name === "horizonRow" ? "finite" : "positive"} number, got ${value}`);
  }
  const h = camera.groundToImage;
  if (given(h as unknown as number) && (!Array.isArray(h) || h.length !== 9 || !h.every(Number.isFinite)))
    throw new InsertionRefusedError("PLACEMENT", "camera groundToImage must be 9 finite numbers (a row-major 3×3 homography from road metres to frame pixels)");
}

/**
 * The box of a hazard of this class standing at the placement: on a flat road seen by a level pinhole camera, the
 * contact point at distance d is f·H/d rows below the horizon, f·X/d columns beside the centre column for a lateral
 * offset X, and an object of height h is f·h/d pixels tall (similar triangles; Hartley & Zisserman, Multiple View
 * Geometry, 6.1). With a ground homography the contact point is its image, and the object's size follows from the
 * homography's lateral scale there (pixels per metre across the road). Refused: no camera, a contact point at or
 * above the horizon, a distance that is not positive, a class without a typical size.
 */
export function boxFromPlacement(placement: HazardPlacement, camera: CameraDescription | null | undefined, hazardClass: string, frame: { width: number; height: number }): FrameBox {
  if (!camera) throw new InsertionRefusedError("CAMERA_REQUIRED", "a placement needs the frame's camera description (horizonRow, heightM, focalLengthPx); or give a box in frame pixels");
  checkCamera(camera);
  const size = TYPICAL_SIZE_M[hazardClass];
  if (!size) throw new InsertionRefusedError("PLACEMENT", `no typical size for class "${hazardClass}"; give a box in frame pixels`);
  if ([placement.distanceM, placement.row].filter(given).length !== 1) throw new InsertionRefusedError("PLACEMENT", "a placement gives exactly one of distanceM and row");
  if ([placement.x, placement.lateralM].filter(given).length !== 1) throw new InsertionRefusedError("PLACEMENT", "a placement gives exactly one of x (contact column) and lateralM");
  let distance: number;
  if (given(placement.row)) {
    if (!(placement.row > camera.horizonRow)) throw new InsertionRefusedError("PLACEMENT", `contact row ${placement.row} is at or above the horizon (row ${camera.horizonRow}): nothing standing on the road touches it there`);
    distance = (camera.focalLengthPx * camera.heightM) / (placement.row - camera.horizonRow);
  } else {
    distance = placement.distanceM!;
    if (!(distance > 0) || !Number.isFinite(distance)) throw new InsertionRefusedError("PLACEMENT", `distance must be a positive number of metres, got ${distance}`);
  }
  const contact = camera.groundToImage ? onGroundPlane(camera.groundToImage, placement, distance) : onLevelRoad(camera, placement, distance, frame.width);
  const width = Math.round(contact.pixelsPerMetre * size.width);
  const height = Math.round(contact.pixelsPerMetre * size.height);
  const box = { x: Math.round(contact.column - width / 2), y: Math.round(contact.row) - height, width, height };
  if (contact.row > frame.height) throw new InsertionRefusedError("PLACEMENT", `at ${distance.toFixed(1)} m the contact point is row ${contact.row.toFixed(0)}, below the ${frame.height}-row frame: too near for this camera`);
  checkHazardBox(box, frame);
  return box;
}

interface ContactPoint {
  column: number;
  row: number;
  /** Frame pixels per metre of an upright object standing there. */
  pixelsPerMetre: number;
}

/** Level pinhole: the principal point is the frame's centre column on the horizon row. */
function onLevelRoad(camera: CameraDescription, placement: HazardPlacement, distance: number, frameWidth: number): ContactPoint {
  const f = camera.focalLengthPx;
  const column = given(placement.x) ? placement.x : frameWidth / 2 + (f * placement.lateralM!) / distance;
  return { column, row: camera.horizonRow + (f * camera.heightM) / distance, pixelsPerMetre: f / distance };
}

/** Road point (X, Z) through the homography; a point that maps behind the camera (w ≤ 0) is above the horizon. */
function onGroundPlane(h: readonly number[], placement: HazardPlacement, distance: number): ContactPoint {
  const [h0, h1, h2, h3, h4, h5, h6, h7, h8] = h as [number, number, number, number, number, number, number, number, number];
  // a contact column instead of a lateral offset: u = (h0 X + h1 Z + h2) / (h6 X + h7 Z + h8) solved for X
  const lateral = given(placement.lateralM) ? placement.lateralM : (h1 * distance + h2 - placement.x! * (h7 * distance + h8)) / (placement.x! * h6 - h0);
  const project = (x: number) => {
    const w = h6 * x + h7 * distance + h8;
    if (!(w > 0) || !Number.isFinite(x)) throw new InsertionRefusedError("PLACEMENT", `the road point ${x.toFixed(2)} m across, ${distance} m ahead maps above the horizon of the camera's ground homography`);
    return { u: (h0 * x + h1 * distance + h2) / w, v: (h3 * x + h4 * distance + h5) / w };
  };
  const at = project(lateral);
  const pixelsPerMetre = Math.abs(project(lateral + 0.5).u - project(lateral - 0.5).u);
  return { column: at.u, row: at.v, pixelsPerMetre };
}

/**
 * The square window around the box: its side makes the box's longer side BOX_SHARE_OF_WINDOW of it (never
 * smaller than the box and its band, never larger than the frame), placed so the box's foot is at
 * FOOT_ROW_IN_WINDOW, then shifted as little as needed to stay inside the frame and to hold the band.
 */
export function cropWindowFor(box: FrameBox, frame: { width: number; height: number }, feather: number): CropWindow {
  const longer = Math.max(box.width, box.height);
  const fits = Math.min(frame.width, frame.height);
  const size = Math.min(fits, Math.max(Math.round(longer / BOX_SHARE_OF_WINDOW), longer + 2 * feather + 2));
  if (longer > size) throw new InsertionRefusedError("REGION", `box ${box.width}x${box.height} does not fit in a square window of the ${frame.width}x${frame.height} frame (at most ${fits} pixels)`);
  // the band, clipped to the frame, must lie inside the window
  const band = { left: Math.max(0, box.x - feather), top: Math.max(0, box.y - feather), right: Math.min(frame.width, box.x + box.width + feather), bottom: Math.min(frame.height, box.y + box.height + feather) };
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const x = clamp(clamp(Math.round(box.x + box.width / 2 - size / 2), band.right - size, band.left), 0, frame.width - size);
  const y = clamp(clamp(Math.round(box.y + box.height - FOOT_ROW_IN_WINDOW * size), band.bottom - size, band.top), 0, frame.height - size);
  return { x, y, size };
}

export interface HazardInsertionInput {
  frame: CameraFrame;
  /** sha256 of the stored frame file (the record's reference for a replay). */
  frameSha256: string;
  box: FrameBox;
  /** hazard (required), weather, timeOfDay; the box fields are set from `box`. */
  parameters: ScenarioParameters;
  model: ModelPackage;
  runtime: ModelRuntime;
  settings: SamplingSettings;
  feather: number;
  /** The noise's sample index with the seed (a job's sample index; default 0). */
  index?: number;
  /** Top-level record fields before the hazardInsertion entry (a job's sample: scenario, job, background). */
  sampleExtras?: Record<string, unknown>;
  /** Extra fields of the record's hazardInsertion entry (id, createdAt, referenceScanId). */
  recordExtras?: Record<string, unknown>;
}

export interface HazardGroundTruth {
  class: string;
  box: FrameBox;
  frame: { width: number; height: number };
}

export interface HazardInsertionResult {
  png: Uint8Array;
  /** The PNG's pixels (8-bit RGB, interleaved): what a detector scores without decoding the file. */
  pixels: PngPixels;
  parameters: ScenarioParameters;
  groundTruth: HazardGroundTruth;
  record: GenerationRecord;
  window: CropWindow;
  timings: { totalMillis: number; onnxMillis: number };
}

/**
 * The condition values: the request's, every other categorical field not given at its first value (road-hazards:
 * weather clear, timeOfDay day), and the hazard's box expressed in the window (fractions of its side).
 */
export function hazardParameters(model: ModelPackage, label: HazardLabel, parameters: ScenarioParameters, box: FrameBox, window: CropWindow): ScenarioParameters {
  const hazard = parameters[label.classField];
  if (typeof hazard !== "string" || !label.classes.includes(hazard) || label.absentWhen.includes(hazard)) {
    const allowed = label.classes.filter((c) => !label.absentWhen.includes(c));
    throw new ValidationError([{ path: `parameters.${label.classField}`, message: `${label.classField} must be one of ${allowed.join(", ")}, got ${JSON.stringify(hazard ?? null)}` }], "invalid hazard insertion");
  }
  const defaults = Object.fromEntries(model.manifest.condition.fields.flatMap((f) => (f.kind === "categorical" && f.name !== label.classField ? [[f.name, f.values[0]!]] : [])));
  const s = window.size;
  return {
    ...defaults,
    ...parameters,
    [label.box.cx]: (box.x + box.width / 2 - window.x) / s,
    [label.box.cy]: (box.y + box.height / 2 - window.y) / s,
    [label.box.w]: box.width / s,
    [label.box.h]: box.height / s,
  };
}

/** Inserts the hazard; throws InsertionRefusedError / ValidationError before any sampling when the request cannot be done. */
export async function insertHazardIntoFrame(input: HazardInsertionInput): Promise<HazardInsertionResult> {
  const started = performance.now();
  const { frame, box, model, feather } = input;
  const manifest = model.manifest;
  const label = hazardLabelOf(model);
  checkHazardBox(box, frame);
  const window = cropWindowFor(box, frame, feather);
  const parameters = hazardParameters(model, label, input.parameters, box, window);
  try {
    assertParametersFit(manifest, parameters);
  } catch (error) {
    if (error instanceof ConditionError) throw new ValidationError([{ path: "parameters", message: error.message }], "invalid hazard insertion");
    throw error;
  }

  // The frame's own PNG bands, deflated once per decoded frame, in zlib's thread pool while the model samples: the
  // result deflates only the bands the window's rows touch.
  const frameBands = sourceBandsOf(frame);

  // 1. The window's pixels (what the model sees), and the part of the window the insertion changes or reads the
  //    frame's colours from: the box dilated by the colour-match ring (which holds the feathered band), clipped to
  //    the window. The box mask, the blend weights and the ring are computed on that part only; every weight
  //    outside it is 0, so those pixels stay the source's without being touched.
  const s = window.size;
  const crop = frame.planes.map((plane) => planeRect(plane, frame.width, { x: window.x, y: window.y, width: s, height: s }));
  const { width: gridWidth, height: gridHeight, valueRange } = manifest.image;
  const ringWidth = feather + Math.ceil(s / gridWidth);
  const inWindow = { x: box.x - window.x, y: box.y - window.y };
  const partX = Math.max(0, inWindow.x - ringWidth);
  const partY = Math.max(0, inWindow.y - ringWidth);
  const part = { x: partX, y: partY, width: Math.min(s, inWindow.x + box.width + ringWidth) - partX, height: Math.min(s, inWindow.y + box.height + ringWidth) - partY };
  const boxMask = regionMask({ kind: "box", x: inWindow.x - part.x, y: inWindow.y - part.y, width: box.width, height: box.height }, part.height, part.width);
  const weights = featherWeights(boxMask, part.height, part.width, feather);
  const grid = gridMask(weights, s, s, gridWidth, gridHeight, part);
  // handed to the inpainting in memory, never stored: uncompressed, since deflating the window in JavaScript cost
  // more than a tenth of a sample's time
  const reference = encodeStoredPng({ width: s, height: s, channels: 3, depth: 8, data: interleave(crop, s * s) });
  const maskPng = encodeStoredPng({ width: gridWidth, height: gridHeight, channels: 1, depth: 8, data: grid.map((v) => v * 255) });

  // 2. Inpaint on the model's grid.
  const scale = gridWidth / s;
  const { record, image, onnxMillis } = await inpaintOnGrid({
    model,
    runtime: input.runtime,
    settings: input.settings,
    parameters,
    reference,
    mask: maskPng,
    strength: 1,
    ...(input.index !== undefined ? { index: input.index } : {}),
    what: "invalid hazard insertion",
    recordExtras: {
      ...input.sampleExtras,
      hazardInsertion: {
        ...input.recordExtras,
        frame: { sha256: input.frameSha256, width: frame.width, height: frame.height },
        box,
        cropWindow: window,
        scale,
        feather,
        colourMatch: { method: "mean-std per RGB channel (Reinhard 2001)", ring: "box dilated by feather + one grid cell, without the box", maxGain: 2 },
      },
    },
  });

  // 3. Model space -> 0..255, scaled to the window (its part), matched to the frame's colours around the box, blended.
  const [lo, hi] = valueRange;
  const plane = gridWidth * gridHeight;
  const upsampled = [0, 1, 2].map((c) => resizePlane(image.subarray(c * plane, (c + 1) * plane).map((x) => ((x - lo) / (hi - lo)) * 255), gridWidth, gridHeight, s, s, part));
  const distance = distanceToRegion(boxMask, part.height, part.width, ringWidth);
  const ring = Uint8Array.from(distance, (d) => (d > 0 && d <= ringWidth ? 1 : 0));
  const source = frame.planes.map((framePlane) => planeRect(framePlane, frame.width, { ...part, x: window.x + part.x, y: window.y + part.y }));
  const matched = matchColourStatistics(upsampled, source, ring);
  const blended = source.map((values, c) => compositeInto(values, matched[c]!, weights, 0, 255));

  // 4. The frame, interleaved, with the part's pixels replaced.
  const data = frame.interleaved.slice();
  for (let r = 0; r < part.height; r++)
    for (let k = 0; k < part.width; k++) {
      const at = ((window.y + part.y + r) * frame.width + window.x + part.x + k) * 3;
      const from = r * part.width + k;
      data[at] = blended[0]![from]!;
      data[at + 1] = blended[1]![from]!;
      data[at + 2] = blended[2]![from]!;
    }
  const pixels = { width: frame.width, height: frame.height, channels: 3, depth: 8, data } as const;
  // native zlib off the event loop: fast-png's deflate of a full frame costs as much as the sampling (BENCHMARKS.md)
  const png = await encodeLargePng(pixels, record, await frameBands);
  return {
    png,
    pixels,
    parameters,
    groundTruth: { class: String(parameters[label.classField]), box: { ...box }, frame: { width: frame.width, height: frame.height } },
    record,
    window,
    timings: { totalMillis: performance.now() - started, onnxMillis },
  };
}

const bandsByFrame = new WeakMap<CameraFrame, Promise<PngBands>>();

/** The frame's PNG bands (encodePngBands), started on first use and kept as long as the decoded frame lives. */
function sourceBandsOf(frame: CameraFrame): Promise<PngBands> {
  let bands = bandsByFrame.get(frame);
  if (!bands) {
    bands = encodePngBands({ width: frame.width, height: frame.height, channels: 3, depth: 8, data: frame.interleaved });
    // awaited by the insertion that needs it; one refused before that point must not leave an unhandled rejection
    bands.catch(() => undefined);
    bandsByFrame.set(frame, bands);
  }
  return bands;
}

/** A rectangle of a row-major plane `width` pixels wide, copied out row by row. */
function planeRect(plane: Uint8Array, width: number, rect: PixelRect): Uint8Array {
  const out = new Uint8Array(rect.width * rect.height);
  for (let r = 0; r < rect.height; r++) {
    const from = (rect.y + r) * width + rect.x;
    out.set(plane.subarray(from, from + rect.width), r * rect.width);
  }
  return out;
}

/** RGB planes -> interleaved RGB (one pass per pixel, the three channels unrolled: a full frame is ~1M pixels). */
function interleave(planes: readonly ArrayLike<number>[], pixels: number): Uint8Array {
  const [red, green, blue] = planes as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, o = 0; p < pixels; p++, o += 3) {
    out[o] = red[p]!;
    out[o + 1] = green[p]!;
    out[o + 2] = blue[p]!;
  }
  return out;
}
