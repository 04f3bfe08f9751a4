// Miss-rate reports of one detector over a job or a scenario: overall and per parameter (categorical
// values; continuous parameters in bins over the scenario's range), each with an exact 95 % Clopper-Pearson
// interval and n; samples the realism gate refused are counted and left out; the hardest samples (misses,
// then the lowest confidences) with links to their files.
import type { Database } from "../db/index.ts";
import { missRateReport, type ParameterBreakdown, type Proportion } from "./statistics.ts";
import { isMiss } from "./scoring.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { ParameterValue, ScenarioSpec } from "../scenarios/index.ts";
import type { DetectorService } from "./service.ts";

export interface HardSample {
  sampleId: string;
  outcome: string;
  confidence: number | null;
  parameters: Record<string, ParameterValue>;
  /** The image's sha256 (served at /artifacts/<sha256>). */
  artifactSha256: string | null;
}

export interface OutcomeCounts {
  HIT: number;
  MISS: number;
  WRONG_CLASS: number;
  INVALID: number;
}

export interface DetectorReport {
  scope: "scenario" | "job";
  scopeId: string;
  detectorId: string;
  /** Generated samples in scope (status OK). */
  samples: number;
  /** Samples whose generation failed (never scored). */
  failedSamples: number;
  /** OK samples this detector has not scored (run scoreSamples). */
  unscored: number;
  /** Scores by outcome; INVALID = refused by the realism gate. */
  outcomes: OutcomeCounts;
  invalidCount: number;
  /** Over valid scores; null when there is none. */
  overall: Proportion | null;
  byParameter: readonly ParameterBreakdown[];
  hardest: HardSample[];
  level: number;
}

export interface ReportOptions {
  /** Equal-width bins per continuous parameter (default 5). */
  bins?: number | null;
  /** Hardest samples to list (default 10, at most 100). */
  hardest?: number | null;
}

/** Bin edges for each continuous parameter from the spec's range, when every observed value lies in it. */
function binEdgesFromSpec(spec: ScenarioSpec, values: Map<string, number[]>, bins: number): Record<string, number[]> {
  const edges: Record<string, number[]> = {};
  for (const [name, d] of Object.entries(spec.parameters)) {
    // a scaled parameter's min and max are its factor's: its bins come from the observed values
    if (d.kind === "scaled" || !("min" in d) || !("max" in d) || typeof d.min !== "number" || typeof d.max !== "number" || !(d.max > d.min)) continue;
    if (d.kind === "integer" && d.max - d.min + 1 <= 6) continue;
    const observed = values.get(name) ?? [];
    if (observed.some((v) => v < d.min || v > d.max)) continue;
    edges[name] = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? d.max : d.min + ((d.max - d.min) * i) / bins));
  }
  return edges;
}

export class ReportService {
  constructor(
    private readonly db: Database,
    private readonly detectors: DetectorService,
  ) {}

  /** The scenario's own samples (failure-search iterations, which draw from their proposals, are left out). */
  async scenarioReport(scenarioId: string, detectorId: string, options: ReportOptions = {}): Promise<DetectorReport> {
    const scenario = await this.db.prisma.scenario.findUnique({ where: { id: scenarioId }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
    if (!scenario || !scenario.versions[0]) throw new NotFoundError("scenario", scenarioId);
    return this.report("scenario", scenarioId, { scenarioVersion: { scenarioId }, job: { searchId: null } }, scenario.versions[0].spec as unknown as ScenarioSpec, detectorId, options);
  }

  async jobReport(jobId: string, detectorId: string, options: ReportOptions = {}): Promise<DetectorReport> {
    const job = await this.db.prisma.generationJob.findUnique({ where: { id: jobId }, include: { scenarioVersion: true } });
    if (!job) throw new NotFoundError("job", jobId);
    return this.report("job", jobId, { jobId }, job.scenarioVersion.spec as unknown as ScenarioSpec, detectorId, options);
  }

  private async report(
    scope: DetectorReport["scope"],
    scopeId: string,
    sampleWhere: { jobId?: string; scenarioVersion?: { scenarioId: string }; job?: { searchId: null } },
    spec: ScenarioSpec,
    detectorId: string,
    options: ReportOptions,
  ): Promise<DetectorReport> {
    const bins = options.bins ?? 5;
    const hardestCount = options.hardest ?? 10;
    if (!Number.isInteger(bins) || bins < 1 || bins > 50) throw new ValidationError([{ path: "bins", message: `bins must be an integer in [1, 50], got ${bins}` }], "invalid report request");
    if (!Number.isInteger(hardestCount) || hardestCount < 0 || hardestCount > 100)
      throw new ValidationError([{ path: "hardest", message: `hardest must be an integer in [0, 100], got ${hardestCount}` }], "invalid report request");
    const detector = await this.detectors.get(detectorId);
    const [samples, failedSamples, scores] = await Promise.all([
      this.db.prisma.sample.count({ where: { ...sampleWhere, status: "OK" } }),
      this.db.prisma.sample.count({ where: { ...sampleWhere, status: "FAILED" } }),
      this.db.prisma.score.findMany({
        where: { detectorPackageId: detector.id, sample: sampleWhere },
        select: { outcome: true, confidence: true, sample: { select: { id: true, parameters: true, artifact: { select: { sha256: true } } } } },
      }),
    ]);
    const outcomes: OutcomeCounts = { HIT: 0, MISS: 0, WRONG_CLASS: 0, INVALID: 0 };
    for (const s of scores) outcomes[s.outcome]++;
    const valid = scores.filter((s) => s.outcome !== "INVALID");
    const level = 0.95;
    let overall: Proportion | null = null;
    let byParameter: readonly ParameterBreakdown[] = [];
    if (valid.length > 0) {
      const scored = valid.map((s) => ({ parameters: s.sample.parameters as Record<string, ParameterValue>, outcome: s.outcome as "HIT" | "MISS" | "WRONG_CLASS" }));
      const numeric = new Map<string, number[]>();
      // Appended in place: copying the list for every sample made a report over n samples cost O(n²).
      for (const s of scored)
        for (const [k, v] of Object.entries(s.parameters)) {
          if (typeof v !== "number") continue;
          const values = numeric.get(k);
          if (values) values.push(v);
          else numeric.set(k, [v]);
        }
      const report = missRateReport(scored, { level, bins, binEdges: binEdgesFromSpec(spec, numeric, bins) });
      overall = report.overall;
      byParameter = report.byParameter;
    }
    const hardest = [...valid]
      .sort((a, b) => Number(isMiss(b.outcome)) - Number(isMiss(a.outcome)) || (a.confidence ?? 1) - (b.confidence ?? 1) || a.sample.id.localeCompare(b.sample.id))
      .slice(0, hardestCount)
      .map((s) => ({
        sampleId: s.sample.id,
        outcome: s.outcome,
        confidence: s.confidence,
        parameters: s.sample.parameters as Record<string, ParameterValue>,
        artifactSha256: s.sample.artifact?.sha256 ?? null,
      }));
    return {
      scope,
      scopeId,
      detectorId: detector.id,
      samples,
      failedSamples,
      unscored: samples - scores.length,
      outcomes,
      invalidCount: outcomes.INVALID,
      overall,
      byParameter,
      hardest,
      level,
    };
  }
}
