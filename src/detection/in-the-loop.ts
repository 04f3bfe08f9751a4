// The detector in the loop, as the worker and the API use it: where a registered detector's files are
// (a shipped package by name, or a user's Ultralytics or YOLOX export by path, checked against the hashes recorded
// at registration), the domain's fidelity critic, and scoring a batch of generated images — realism gate
// first, so a sample the critic says does not show what was requested is INVALID, never a detector miss.
// No database here: callers read and write the rows.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionProviderName } from "../runtime/index.ts";
import type { DecodedImage } from "../imaging/index.ts";
import type { ParameterValue } from "../scenarios/index.ts";
import { normaliseClassMap, type ClassMap } from "./class-map.ts";
import { loadCritic, lookPlace, type Critic, type RealismThresholds, type RealismVerdict } from "./critic.ts";
import { describeDetector, openDetector, type Detector, type DetectorKind, type ResolvedDescription } from "./detector.ts";
import { DetectorPackageError } from "./errors.ts";
import { resolveDetectorExport, type DetectorFiles } from "./files.ts";
import type { DetectorLayoutName } from "./layouts.ts";
import { PACKAGE_NAME } from "../models/index.ts";
import { scoreSample, type IntendedObject, type Outcome } from "./scoring.ts";
import type { Detection, PixelBox } from "./boxes.ts";

/** Whether two boxes share any area. */
const intersects = (a: PixelBox, b: PixelBox) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** Where a registered detector's files live. Packages are found by name under the models directory, so
 * workers on other machines with their own copy find them; an export by its path in the (shared)
 * detectors directory, relative to it (older rows hold an absolute path, still checked to lie inside it). */
export type DetectorSource =
  | { readonly kind: "package"; readonly package: string }
  | { readonly kind: ExportKind; readonly path: string; readonly classes?: readonly string[] };

/** A bare export's kind names its layout; the layout found at registration is pinned by it from then on. */
export type ExportKind = Exclude<DetectorKind, "package">;
const LAYOUT_OF: Readonly<Record<ExportKind, DetectorLayoutName>> = { "ultralytics-onnx": "ultralytics", "yolox-onnx": "yolox" };

/** What a DetectorPackage row records about a detector (the columns the loader needs). */
export interface DetectorRecord {
  readonly name: string;
  readonly version: string;
  readonly source: DetectorSource;
  readonly fileHashes: Readonly<Record<string, string>>;
  readonly classMap: Readonly<Record<string, readonly string[]>>;
}

/**
 * The file or directory a source names: a package by its name under the models directory, an export only
 * inside the detectors directory (resolveDetectorExport's one refusal otherwise).
 */
export async function sourcePath(source: DetectorSource, files: DetectorFiles): Promise<string> {
  if (source.kind !== "package") return (await resolveDetectorExport(source.path, files.detectorsDir)).path;
  if (!PACKAGE_NAME.test(source.package)) throw new DetectorPackageError("not-found", `"${source.package}" is not a detector package name`);
  return join(files.modelsDir, source.package);
}

/** Validates a detector as it would be registered (layout, class names, class map) without a session. */
export async function describeDetectorSource(source: DetectorSource, files: DetectorFiles, classMap?: Readonly<Record<string, string | readonly string[]>>): Promise<ResolvedDescription> {
  return describeDetector(await sourcePath(source, files), {
    maxBytes: files.maxBytes,
    ...(classMap ? { classMap } : {}),
    ...(source.kind !== "package" ? { layout: LAYOUT_OF[source.kind], ...(source.classes ? { classes: source.classes } : {}) } : {}),
  });
}

/**
 * Validates an export about to be registered: its layout from its output shape unless `layout` is given,
 * and the source that pins it (path relative to the detectors directory).
 */
export async function describeExport(
  given: string,
  files: DetectorFiles,
  options: { classMap?: Readonly<Record<string, string | readonly string[]>>; classes?: readonly string[]; layout?: DetectorLayoutName },
): Promise<{ source: DetectorSource; described: ResolvedDescription }> {
  const { path, relativePath } = await resolveDetectorExport(given, files.detectorsDir);
  const described = await describeDetector(path, {
    maxBytes: files.maxBytes,
    ...(options.classMap ? { classMap: options.classMap } : {}),
    ...(options.classes ? { classes: options.classes } : {}),
    ...(options.layout ? { layout: options.layout } : {}),
  });
  // resolveDetectorExport admits regular files only, so a detector.json package directory never gets here
  if (described.kind === "package") throw new DetectorPackageError("not-found", `${given} is a detector package; packages in the models directory are registered automatically`);
  return { source: { kind: described.kind, path: relativePath, ...(options.classes ? { classes: options.classes } : {}) }, described };
}

/** A registered detector's files, checked again; refuses (code `invalid-manifest`) when they differ from the registered ones. */
export async function describeRecordedDetector(record: DetectorRecord, files: DetectorFiles): Promise<ResolvedDescription> {
  const described = await describeDetectorSource(record.source, files, record.classMap);
  for (const [file, hash] of Object.entries(record.fileHashes)) {
    if (described.fileHashes[file] !== hash) {
      throw new DetectorPackageError(
        "invalid-manifest",
        `detector ${record.name} ${record.version}: ${file} has changed since it was registered (sha256 ${described.fileHashes[file] ?? "missing"}, registered ${hash}); register the new version`,
        described.onnxPath,
      );
    }
  }
  return described;
}

/** Opens a registered detector from the bytes its sha256 check read (describeRecordedDetector). */
export async function openRecordedDetector(record: DetectorRecord, files: DetectorFiles, options: { ep?: ExecutionProviderName; intraOpThreads?: number } = {}): Promise<Detector> {
  return openDetector(await describeRecordedDetector(record, files), {
    ep: options.ep ?? "cpu",
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
  });
}

/** The shipped detector packages (directories with a detector.json) under the models directory. */
export function shippedDetectorPackages(modelsDir: string): string[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(modelsDir, e.name, "detector.json")))
    .map((e) => e.name)
    .sort();
}

/**
 * The fidelity critic package for a diffusion model (critic.json whose `model` names it), or null. A package derived
 * from another (quantized or distilled: model.json `derivedFrom`) makes the images its base is asked for, so it is
 * judged by the critic of the nearest package up its chain of bases (an int8 build of a distilled build of
 * road-hazards: road-hazards's) when none names it.
 */
export function findCriticPackage(modelsDir: string, modelName: string): string | null {
  if (!existsSync(modelsDir)) return null;
  const seen = new Set<string>();
  for (let name: string | null = modelName; name !== null && !seen.has(name); name = derivedFromName(modelsDir, name)) {
    seen.add(name);
    const critic = criticNaming(modelsDir, name);
    if (critic) return critic;
  }
  return null;
}

function criticNaming(modelsDir: string, modelName: string): string | null {
  for (const entry of readdirSync(modelsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const file = join(modelsDir, entry.name, "critic.json");
    if (!existsSync(file)) continue;
    try {
      if ((JSON.parse(readFileSync(file, "utf8")) as { model?: unknown }).model === modelName) return join(modelsDir, entry.name);
    } catch {
      // an unreadable critic.json is reported by loadCritic when someone uses it; here it is simply not a match
    }
  }
  return null;
}

/** The base package a model package under modelsDir was derived from (its model.json `derivedFrom.name`), or null. */
function derivedFromName(modelsDir: string, modelName: string): string | null {
  const entry = readdirSync(modelsDir, { withFileTypes: true }).find((e) => e.isDirectory() && e.name === modelName);
  const file = entry ? join(modelsDir, entry.name, "model.json") : null;
  if (!file || !existsSync(file)) return null;
  try {
    const base = (JSON.parse(readFileSync(file, "utf8")) as { derivedFrom?: { name?: unknown } }).derivedFrom?.name;
    return typeof base === "string" ? base : null;
  } catch {
    return null; // an unreadable manifest fails where the model is loaded, not here
  }
}

/**
 * The scenario classes a scenario can ask a detector for: the values its class parameter can take (fixed,
 * choice or sweep), minus the "absent" values (hazard "none"). Continuous class parameters cannot occur.
 */
export function intendedClasses(
  labelRules: readonly { readonly class: string; readonly absentWhen?: readonly string[] }[],
  parameters: Readonly<Record<string, { kind: string; value?: ParameterValue; values?: readonly ParameterValue[] }>>,
): string[] {
  const classes = new Set<string>();
  for (const rule of labelRules) {
    const d = parameters[rule.class];
    if (!d) continue;
    const values = d.kind === "fixed" ? [d.value] : (d.values ?? []);
    for (const v of values) if (v !== undefined && !(rule.absentWhen ?? []).includes(String(v))) classes.add(String(v));
  }
  return [...classes].sort();
}

/** Classes the scenario can ask for that the class map cannot score (each would be a certain miss). */
export function unmappedClasses(classes: readonly string[], classMap: ClassMap | Readonly<Record<string, string | readonly string[]>>): string[] {
  const map = normaliseClassMap(classMap);
  return classes.filter((c) => !map[c] || map[c]!.length === 0);
}

export interface RealismGate {
  readonly enabled: boolean;
  readonly thresholds: Partial<RealismThresholds>;
}

/** One generated image to score: the image, its ground-truth boxes (image pixels) and the drawn parameters. */
export interface ScoringItem {
  readonly image: DecodedImage;
  readonly intended: readonly IntendedObject[];
  readonly parameters: Readonly<Record<string, ParameterValue>>;
  /**
   * Where the image differs from a real source frame (an inserted hazard's box and blend band), when it is one:
   * a detection outside every region is of an object the frame already showed — kept as context, never a false
   * positive (it cannot match the intended object either: it does not overlap it).
   */
  readonly changedRegions?: readonly PixelBox[];
}

/** A sample's changed regions from its stored labels (a frame sample's `changed`), as a ScoringItem field. */
export function changedRegionsOf(labels: unknown): { changedRegions?: readonly PixelBox[] } {
  const changed = (labels as { changed?: unknown } | null)?.changed;
  return Array.isArray(changed) ? { changedRegions: changed as PixelBox[] } : {};
}

export interface DetectionRow {
  readonly className: string;
  readonly confidence: number;
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
  /** Index of the intended object it matched (or the wrong-class overlap it explains); null = false positive. */
  readonly matchedLabel: number | null;
  readonly iou: number | null;
  /** An object already in the source frame (outside every changed region): context, not a false positive. */
  readonly context: boolean;
}

export interface SampleVerdict {
  /** INVALID when the realism gate refused the sample; otherwise the detector's outcome. */
  readonly outcome: Outcome | "INVALID";
  /** What the detector did, whatever the gate said (kept for INVALID samples too). */
  readonly detectorOutcome: Outcome;
  readonly confidence: number | null;
  readonly iou: number | null;
  readonly falsePositives: number;
  readonly realismValid: boolean;
  /**
   * The critic's reasons, box IoU and readings (seen: from the whole frame; atRequestedPlace: its look's probability
   * of each class at the requested object's place; atCriticsBox: where no object was requested but the critic names
   * one, its look's at the critic's box); null without a critic.
   */
  readonly realismDetails: {
    readonly critic: string;
    readonly boxIoU: number | null;
    readonly reasons: readonly string[];
    readonly seen: Readonly<Record<string, ParameterValue>>;
    readonly atRequestedPlace?: Readonly<Record<string, number>>;
    readonly atCriticsBox?: Readonly<Record<string, number>>;
  } | null;
  readonly detections: readonly DetectionRow[];
}

/** The look's reading in a score's realism details, named by where the gate read it (lookPlace). */
function lookReading(critic: Critic, realism: RealismVerdict, requested: Readonly<Record<string, ParameterValue>>): { atRequestedPlace?: Readonly<Record<string, number>>; atCriticsBox?: Readonly<Record<string, number>> } {
  const look = realism.prediction.look;
  if (!look) return {};
  return lookPlace(critic.manifest, realism.prediction.values, requested)?.at === "critic" ? { atCriticsBox: look } : { atRequestedPlace: look };
}

/**
 * Scores a batch: the critic judges all images in one run (when there is one and the gate is on), the
 * detector runs image by image (its graphs are exported with batch 1), and each sample is matched.
 */
export async function scoreImages(detector: Detector, critic: Critic | null, gate: RealismGate, items: readonly ScoringItem[]): Promise<SampleVerdict[]> {
  if (items.length === 0) return [];
  // the critic judges the model's own images; a real frame with an inserted hazard is not one
  const judged = items.flatMap((item, k) => (item.changedRegions ? [] : [k]));
  const judgements = critic && gate.enabled && judged.length > 0 ? await critic.judge(judged.map((k) => items[k]!.image), judged.map((k) => items[k]!.parameters), gate.thresholds) : null;
  const verdicts = judgements ? new Map(judged.map((k, j) => [k, judgements[j]!])) : null;
  const out: SampleVerdict[] = [];
  for (const [k, item] of items.entries()) {
    const detections = await detector.detect(item.image);
    const score = scoreSample({ intended: item.intended, detections, classMap: detector.classMap, matchIoU: detector.thresholds.matchIoU });
    // a detection's label: the intended object it was matched to, or that it describes again (a vehicle seen as car and bus)
    const matchOf = new Map([
      ...score.objects.flatMap((o, index) => (o.detection ? [[o.detection, { index, iou: o.iou }] as const] : [])),
      ...score.duplicates.map((d) => [d.detection, { index: d.index, iou: d.iou }] as const),
    ]);
    const realism = verdicts?.get(k) ?? null;
    const valid = realism ? realism.valid : true;
    const matched = score.objects.filter((o) => o.outcome === "HIT");
    const isContext = (d: Detection) => item.changedRegions !== undefined && !matchOf.has(d) && !item.changedRegions.some((region) => intersects(region, d.box));
    out.push({
      outcome: valid ? score.outcome : "INVALID",
      detectorOutcome: score.outcome,
      confidence: score.confidence,
      // the weakest match's overlap, like the confidence (null when nothing was intended)
      iou: score.objects.length === 0 ? null : matched.length === score.objects.length ? Math.min(...matched.map((o) => o.iou)) : 0,
      falsePositives: score.falsePositives.filter((d) => !isContext(d)).length,
      realismValid: valid,
      realismDetails: realism
        ? { critic: critic!.manifest.name, boxIoU: realism.boxIoU, reasons: realism.reasons.map((r) => r.message), seen: realism.prediction.values, ...lookReading(critic!, realism, item.parameters) }
        : null,
      detections: detections.map((d) => ({
        className: d.class,
        confidence: d.score,
        x1: d.box.x,
        y1: d.box.y,
        x2: d.box.x + d.box.width,
        y2: d.box.y + d.box.height,
        matchedLabel: matchOf.get(d)?.index ?? null,
        iou: matchOf.get(d)?.iou ?? null,
        context: isContext(d),
      })),
    });
  }
  return out;
}

/** Detector + critic sessions kept open per (detector record, model) for the life of a worker or service. */
export class ScoringSessions {
  private readonly entries = new Map<string, Promise<{ detector: Detector; critic: Critic | null }>>();
  constructor(
    private readonly files: DetectorFiles,
    private readonly options: { ep?: ExecutionProviderName; intraOpThreads?: number } = {},
  ) {}

  get(key: string, record: DetectorRecord, modelName: string): Promise<{ detector: Detector; critic: Critic | null }> {
    const cacheKey = `${key}|${modelName}`;
    let entry = this.entries.get(cacheKey);
    if (!entry) {
      entry = (async () => {
        const detector = await openRecordedDetector(record, this.files, this.options);
        const criticDir = findCriticPackage(this.files.modelsDir, modelName);
        try {
          const critic = criticDir ? await loadCritic(criticDir, this.options) : null;
          return { detector, critic };
        } catch (error) {
          await detector.dispose();
          throw error;
        }
      })();
      entry.catch(() => this.entries.delete(cacheKey));
      this.entries.set(cacheKey, entry);
    }
    return entry;
  }

  async dispose(): Promise<void> {
    for (const entry of this.entries.values()) {
      await entry.then(async (e) => {
        await e.detector.dispose();
        await e.critic?.dispose();
      }).catch(() => {});
    }
    this.entries.clear();
  }
}
