// Reference sets: named, tagged groups of camera frames (AUTOMOTIVE PNG/JPEG reference uploads) with the camera
// that stands hazards on their road, per set or per frame. Scenarios name a set as their background; this service
// checks such a scenario against the set's frames (every box it can draw fits every frame, every placement stands
// on the road of every frame's camera) and hands a job the frames it draws from, frozen when the job is requested.
import { z } from "zod";
import { requireScope } from "../access/index.ts";
import { Prisma, type Database } from "../db/index.ts";
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldIssue } from "../errors.ts";
import type { ScenarioParameters } from "../models/index.ts";
import { backgroundParameters, boundsOf, drawableValues, type BackgroundCatalog, type ConditionLayout, type ScenarioSpec } from "../scenarios/index.ts";
import { InsertionRefusedError } from "./errors.ts";
import { boxFromPlacement, MIN_HAZARD_BOX_PIXELS, type CameraDescription } from "./hazard.ts";

const finite = z.number().finite();
/** A camera as stored: a level pinhole (horizon row, height, focal length), optionally the road's homography. */
export const cameraSchema = z.strictObject({
  horizonRow: finite,
  heightM: finite.positive(),
  focalLengthPx: finite.positive(),
  groundToImage: z.array(finite).length(9, "groundToImage is a row-major 3×3 homography: 9 numbers").nullish(),
});

const setNameSchema = z
  .string()
  .min(3)
  .max(80)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "lowercase words joined by hyphens, e.g. udacity-highway-day");
const tagsSchema = z.array(z.string().min(1).max(40)).max(32, "at most 32 tags");
const createSchema = z.strictObject({ name: setNameSchema, tags: tagsSchema.default([]), camera: cameraSchema.nullish() });
const framesSchema = z.array(z.strictObject({ referenceScanId: z.uuid("a reference upload's id"), camera: cameraSchema.nullish() })).min(1, "give at least one frame").max(1000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** At most this many frames in a set: a job stores its frame list in its options. */
export const MAX_SET_FRAMES = 1000;

export type ReferenceSetInput = z.input<typeof createSchema>;

/** A frame as a job draws it: its upload, stored file, size and the camera that applies to it (its own, else the set's). */
export interface BackgroundFrame {
  referenceScanId: string;
  sha256: string;
  width: number;
  height: number;
  camera: CameraDescription | null;
}

/** The frames a background scenario draws from, in the set's order. */
export interface ResolvedBackground {
  referenceSetId: string;
  name: string;
  frames: BackgroundFrame[];
}

function parsed<T>(schema: z.ZodType<T>, input: unknown, what: string, prefix = ""): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(result.error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join("."), message: i.message })), what);
  return result.data;
}

const withFrames = { frames: { orderBy: { position: "asc" }, include: { referenceScan: { include: { artifact: true } } } } } as const;

export class ReferenceSetService implements BackgroundCatalog {
  constructor(private readonly db: Database) {}

  async create(input: ReferenceSetInput) {
    const { name, tags, camera } = parsed(createSchema, input, "invalid reference set");
    requireScope("AUTOMOTIVE", "domain", "AUTOMOTIVE");
    return this.db.prisma.$transaction(async (tx) => {
      if (await tx.referenceSet.findUnique({ where: { name }, select: { id: true } })) throw new AlreadyExistsError("reference set", name);
      return tx.referenceSet.create({ data: { name, tags, domain: "AUTOMOTIVE", ...(camera ? { camera: camera as Prisma.InputJsonValue } : {}) }, include: withFrames });
    });
  }

  /** Appends frames (automotive PNG/JPEG uploads not yet in the set), all or none. */
  async addFrames(setId: string, frames: unknown) {
    const requested = parsed(framesSchema, frames, "invalid frames", "frames");
    return this.db.prisma.$transaction(async (tx) => {
      const set = await tx.referenceSet.findUnique({ where: { id: setId }, include: { frames: { select: { referenceScanId: true, position: true } } } });
      if (!set) throw new NotFoundError("reference set", setId);
      const issues: FieldIssue[] = [];
      const present = new Set(set.frames.map((f) => f.referenceScanId));
      const scans = new Map((await tx.referenceScan.findMany({ where: { id: { in: requested.map((f) => f.referenceScanId) } } })).map((s) => [s.id, s]));
      requested.forEach((frame, i) => {
        const scan = scans.get(frame.referenceScanId);
        const path = `frames.${i}.referenceScanId`;
        if (!scan) issues.push({ path, message: `no reference upload ${frame.referenceScanId}` });
        else if (scan.kind === "DICOM" || scan.domain !== "AUTOMOTIVE") issues.push({ path, message: `${scan.id} is a ${scan.domain} ${scan.kind} upload; a reference set holds camera frames (PNG/JPEG uploaded with domain AUTOMOTIVE)` });
        else if (present.has(scan.id) || requested.findIndex((f) => f.referenceScanId === scan.id) !== i) issues.push({ path, message: `frame ${scan.id} is already in the set` });
      });
      if (set.frames.length + requested.length > MAX_SET_FRAMES) issues.push({ path: "frames", message: `a set holds at most ${MAX_SET_FRAMES} frames; it has ${set.frames.length}` });
      if (issues.length > 0) throw new ValidationError(issues, "invalid frames");
      const next = Math.max(-1, ...set.frames.map((f) => f.position)) + 1;
      await tx.referenceSetFrame.createMany({
        data: requested.map((frame, i) => ({ setId, referenceScanId: frame.referenceScanId, position: next + i, ...(frame.camera ? { camera: frame.camera as Prisma.InputJsonValue } : {}) })),
      });
      return tx.referenceSet.update({ where: { id: setId }, data: { updatedAt: new Date() }, include: withFrames });
    });
  }

  /** Removes frames from the set (the uploads stay); the others keep their order. */
  async removeFrames(setId: string, referenceScanIds: readonly string[]) {
    return this.db.prisma.$transaction(async (tx) => {
      const set = await tx.referenceSet.findUnique({ where: { id: setId }, include: { frames: { select: { referenceScanId: true } } } });
      if (!set) throw new NotFoundError("reference set", setId);
      const present = new Set(set.frames.map((f) => f.referenceScanId));
      const missing = referenceScanIds.map((id, i) => ({ id, i })).filter(({ id }) => !present.has(id));
      if (referenceScanIds.length === 0 || missing.length > 0)
        throw new ValidationError(referenceScanIds.length === 0 ? [{ path: "referenceScanIds", message: "give at least one frame" }] : missing.map(({ id, i }) => ({ path: `referenceScanIds.${i}`, message: `frame ${id} is not in the set` })), "invalid frames");
      await tx.referenceSetFrame.deleteMany({ where: { setId, referenceScanId: { in: [...referenceScanIds] } } });
      return tx.referenceSet.update({ where: { id: setId }, data: { updatedAt: new Date() }, include: withFrames });
    });
  }

  /** Sets (or with null clears) the camera of the set, or of one of its frames when referenceScanId is given. */
  async setCamera(setId: string, camera: unknown, referenceScanId?: string | null) {
    const value = camera === null || camera === undefined ? Prisma.DbNull : (parsed(cameraSchema, camera, "invalid camera", "camera") as Prisma.InputJsonValue);
    return this.db.prisma.$transaction(async (tx) => {
      const set = await tx.referenceSet.findUnique({ where: { id: setId }, select: { id: true } });
      if (!set) throw new NotFoundError("reference set", setId);
      if (referenceScanId) {
        const updated = await tx.referenceSetFrame.updateMany({ where: { setId, referenceScanId }, data: { camera: value } });
        if (updated.count === 0) throw new NotFoundError("frame of reference set", referenceScanId);
      }
      return tx.referenceSet.update({ where: { id: setId }, data: referenceScanId ? { updatedAt: new Date() } : { camera: value }, include: withFrames });
    });
  }

  /** A set by its id or its name. */
  async get(idOrName: string) {
    const where = UUID.test(idOrName) ? { id: idOrName } : { name: idOrName };
    const set = await this.db.prisma.referenceSet.findUnique({ where, include: withFrames });
    if (!set) throw new NotFoundError("reference set", idOrName);
    return set;
  }

  async list() {
    return this.db.prisma.referenceSet.findMany({ orderBy: { name: "asc" }, include: withFrames });
  }

  /** The set a background names and its frames with the camera applying to each; refused when unknown or empty. */
  async resolve(name: string): Promise<ResolvedBackground> {
    const set = await this.db.prisma.referenceSet.findUnique({ where: { name }, include: withFrames });
    if (!set) throw new NotFoundError("reference set", name);
    if (set.frames.length === 0) throw new ValidationError([{ path: "background.referenceSet", message: `reference set ${name} has no frames` }], "invalid background");
    return {
      referenceSetId: set.id,
      name: set.name,
      frames: set.frames.map((f) => ({
        referenceScanId: f.referenceScanId,
        sha256: f.referenceScan.artifact.sha256,
        width: f.referenceScan.columns,
        height: f.referenceScan.rows,
        camera: ((f.camera ?? set.camera) as CameraDescription | null) ?? null,
      })),
    };
  }

  /**
   * A background scenario against its set: the set exists and has frames; a box's parameters keep it inside every
   * frame and at least MIN_HAZARD_BOX_PIXELS on a side; a placement needs a camera on every frame, and at the
   * corners of its distance × lateral (or column) ranges, for every class the scenario draws, stands on the road
   * inside every frame (the box is monotone in each, so the corners bound it).
   */
  async check(spec: ScenarioSpec, layout: ConditionLayout): Promise<FieldIssue[]> {
    const background = spec.background;
    if (!background) return [];
    let resolved: ResolvedBackground;
    try {
      resolved = await this.resolve(background.referenceSet);
    } catch (error) {
      if (error instanceof NotFoundError) return [{ path: "background.referenceSet", message: `no reference set named "${background.referenceSet}"` }];
      if (error instanceof ValidationError) return error.issues;
      throw error;
    }
    const names = backgroundParameters(background);
    const bounds = (role: string) => boundsOf(spec.parameters[names[role]!]!, spec.parameters);
    const issues: FieldIssue[] = [];
    const frameName = (f: BackgroundFrame, k: number) => `frame ${k} (${f.referenceScanId}, ${f.width}x${f.height})`;
    if (background.box) {
      const [x, y, width, height] = (["x", "y", "width", "height"] as const).map(bounds);
      const path = (role: string) => `parameters.${names[role]}`;
      if (!x || !y || !width || !height) return [{ path: "background.box", message: "the box's parameters must draw bounded numbers" }];
      if (x[0] < 0 || y[0] < 0) issues.push({ path: path(x[0] < 0 ? "x" : "y"), message: "the box's corner must not leave the frame (x, y ≥ 0)" });
      if (width[0] < MIN_HAZARD_BOX_PIXELS || height[0] < MIN_HAZARD_BOX_PIXELS) issues.push({ path: path(width[0] < MIN_HAZARD_BOX_PIXELS ? "width" : "height"), message: `box sides must be at least ${MIN_HAZARD_BOX_PIXELS} pixels` });
      resolved.frames.forEach((f, k) => {
        if (x[1] + width[1] > f.width) issues.push({ path: path("x"), message: `x + width reaches ${x[1] + width[1]}, beyond the ${f.width}-pixel width of ${frameName(f, k)}` });
        if (y[1] + height[1] > f.height) issues.push({ path: path("y"), message: `y + height reaches ${y[1] + height[1]}, beyond the ${f.height}-pixel height of ${frameName(f, k)}` });
      });
      return issues;
    }
    const placement = background.placement!;
    const distance = bounds("distance");
    const across = bounds(placement.lateral !== undefined ? "lateral" : "column");
    if (!distance || !across) return [{ path: "background.placement", message: "the placement's parameters must draw bounded numbers" }];
    const classes = hazardClasses(spec, layout);
    resolved.frames.forEach((f, k) => {
      if (!f.camera) {
        issues.push({ path: "background.referenceSet", message: `${frameName(f, k)} has no camera description; a placement needs one (set the set's camera or the frame's)` });
        return;
      }
      for (const hazard of classes)
        for (const d of distance)
          for (const a of across) {
            try {
              boxFromPlacement(placement.lateral !== undefined ? { lateralM: a, distanceM: d } : { x: a, distanceM: d }, f.camera, hazard, f);
            } catch (error) {
              if (!(error instanceof InsertionRefusedError)) throw error;
              issues.push({ path: `parameters.${names["distance"]}`, message: `${hazard} at ${d} m, ${placement.lateral !== undefined ? `${a} m across` : `column ${a}`} on ${frameName(f, k)}: ${error.message}` });
              return;
            }
          }
    });
    return issues;
  }
}

/** The hazard classes a scenario can draw: its box label's class parameter's values but the absent ones. */
export function hazardClasses(spec: ScenarioSpec, layout: ConditionLayout): string[] {
  const rule = (layout.labels ?? []).find((r) => r.kind === "box");
  const d = rule ? spec.parameters[rule.class] : undefined;
  return [...new Set((d ? (drawableValues(d) ?? []) : []).map(String))].filter((c) => !(rule?.absentWhen ?? []).includes(c));
}

/** The model's condition values among a background sample's drawn parameters (the placement's and the frame are not). */
export function conditionValuesOf(parameters: ScenarioParameters, layout: ConditionLayout): ScenarioParameters {
  const fields = new Set(layout.condition.fields.map((f) => f.name));
  return Object.fromEntries(Object.entries(parameters).filter(([name]) => fields.has(name)));
}
