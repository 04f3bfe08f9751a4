// The detector in the loop over the real service (HTTP, in-process worker, PGlite; PostgreSQL too when
// TEST_DATABASE_URL is set) with the shipped road-hazards model, road-detector and road-critic: a job that
// names a detector is scored as it is generated, the report's per-condition miss rates and intervals match
// an independent computation from the rows, scoring again writes nothing, a small failure search runs as
// generation jobs and exports a derived scenario, and bad requests are refused with typed errors and no rows.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config.ts";
import type { Database } from "../../src/db/index.ts";
import { testBackends, type TestBackend } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { JOB, subscribeSse } from "../jobs/helpers.ts";
import { fetchReport, formatReport } from "../../src/commands/report.ts";
import { formatSearch, runSearch, type SearchSnapshot } from "../../src/commands/search.ts";
import { YOLOV8N_INT8, sharedDetectorAvailable } from "./helpers/shared-data.ts";
import type { ServiceKey } from "../../src/commands/service-client.ts";
import { decodeGlobalID } from "@pothos/plugin-relay";

/** What `rareforge report` and `rareforge search` send: here the test service's admin key. */
const adminKey = (api: TestService): ServiceKey => ({ secret: api.adminKey, source: "the test service's admin key" });

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const CRITIC_ONNX = path.join(MODELS_DIR, "road-critic", "critic.onnx");
const shippedPresent = ["road-hazards", "road-detector", "road-critic"].every((p) => existsSync(path.join(MODELS_DIR, p)));
if (!shippedPresent) console.warn("skipping detector-in-the-loop API tests: models/road-hazards, road-detector or road-critic is absent");

// Each class's height keeps every width (0.08..0.3) inside the box aspects road-hazards declares plausible for it.
const HEIGHT = {
  pedestrian: "{kind: uniform, min: 0.34, max: 0.4}",
  animal: "{kind: uniform, min: 0.12, max: 0.16}",
  vehicle: "{kind: uniform, min: 0.095, max: 0.11}",
  debris: "{kind: uniform, min: 0.09, max: 0.13}",
};
const scenarioYaml = (name: string, hazards: (keyof typeof HEIGHT)[]) => `
name: ${name}
domain: automotive
model: road-hazards
parameters:
  hazard: {kind: choice, values: [${hazards.join(", ")}]}
  weather: {kind: choice, values: [clear, fog]}
  timeOfDay: {kind: choice, values: [day, night]}
  hazardCx: {kind: uniform, min: 0.3, max: 0.7}
  hazardCy: {kind: uniform, min: 0.55, max: 0.7}
  hazardW: {kind: uniform, min: 0.08, max: 0.3}
  hazardH:
    kind: given
    of: hazard
    cases:
${hazards.map((hazard) => `      ${hazard}: ${HEIGHT[hazard]}`).join("\n")}
`;
const SCENARIO_YAML = scenarioYaml("loop-hazards", ["pedestrian", "animal", "vehicle"]);
// debris and cone have no COCO counterpart: a COCO detector cannot score this scenario
const DEBRIS_YAML = scenarioYaml("loop-debris", ["debris", "pedestrian"]);

const REQUEST = /* GraphQL */ `
  mutation($scenarioId: ID!, $count: Int!, $steps: Int!, $seed: Int!, $batchSize: Int!, $detectorId: ID) {
    requestGeneration(scenarioId: $scenarioId, count: $count, sampler: DDIM, steps: $steps, guidance: 3, seed: $seed, batchSize: $batchSize, detectorId: $detectorId) {
      __typename
      ... on MutationRequestGenerationSuccess { data { id uuid } }
      ... on Error { message }
      ... on ValidationError { issues { path message } }
    }
  }
`;

const REPORT = /* GraphQL */ `
  query($jobId: ID!, $detectorId: ID!) {
    jobReport(jobId: $jobId, detectorId: $detectorId) {
      __typename
      ... on Error { message }
      ... on QueryJobReportSuccess {
        data {
          samples failedSamples unscored invalidCount
          outcomes { hit miss wrongClass invalid }
          overall { n misses rate lower upper level }
          byParameter { parameter kind levels { value bin label n misses rate lower upper } }
          hardest { outcome confidence artifactUrl sample { uuid } }
        }
      }
    }
  }
`;

/**
 * Polls a job until `until` holds. A poll can meet a keep-alive socket the server closed while its event
 * loop was busy committing a batch (ECONNRESET): that poll is simply retried.
 */
async function waitForJob(api: TestService, id: string, until: (job: any) => boolean, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api.graphql(JOB, { id }).then(
      (r) => r.data?.job.data,
      () => undefined,
    );
    if (job && until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not reach the expected state: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** ln C(n, k) by summing logs (independent of the library's log-gamma). */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}
/** P(X >= x) and P(X <= x) for X ~ Binomial(n, p), by direct summation of the pmf. */
function binomialTails(x: number, n: number, p: number): { atLeast: number; atMost: number } {
  let atLeast = 0;
  let atMost = 0;
  for (let k = 0; k <= n; k++) {
    const pmf = Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log(1 - p));
    if (k >= x) atLeast += pmf;
    if (k <= x) atMost += pmf;
  }
  return { atLeast, atMost };
}
/**
 * The Clopper-Pearson bounds are defined by the binomial tails (Clopper & Pearson 1934):
 * P(X >= x | lower) = alpha/2 and P(X <= x | upper) = alpha/2; checked by summing the pmf directly.
 */
function expectExactInterval(level: { n: number; misses: number; lower: number; upper: number }) {
  if (level.misses === 0) expect(level.lower).toBe(0);
  else expect(binomialTails(level.misses, level.n, level.lower).atLeast).toBeCloseTo(0.025, 6);
  if (level.misses === level.n) expect(level.upper).toBe(1);
  else expect(binomialTails(level.misses, level.n, level.upper).atMost).toBeCloseTo(0.025, 6);
}

interface Harness {
  db: Database;
  api: TestService;
  scenarioId: string;
  debrisScenarioId: string;
  detectorId: string;
  rowCounts(): Promise<{ detectors: number; jobs: number; searches: number }>;
}

/** A service over a fresh database with the shipped models, the two test scenarios and the road detector's id. */
function useService(backend: TestBackend, overrides: Partial<Config>): Harness {
  const h = {} as Harness;
  let dataDir: string;
  const importScenario = async (yaml: string, name: string) => {
    const imported = await h.api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on Error { message } } }`, { yaml });
    expect(imported.data?.importScenarios.__typename).toBe("MutationImportScenariosSuccess");
    const found = await h.api.graphql(`query($text: String) { scenarios(first: 5, text: $text) { edges { node { id name } } } }`, { text: name });
    return found.data?.scenarios.edges.find((e: { node: { name: string } }) => e.node.name === name).node.id as string;
  };
  h.rowCounts = async () => ({
    detectors: await h.db.prisma.detectorPackage.count(),
    jobs: await h.db.prisma.generationJob.count(),
    searches: await h.db.prisma.failureSearch.count(),
  });

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-loop-"));
    // exports are registered from the detectors directory (default <data dir>/detectors)
    mkdirSync(path.join(dataDir, "detectors"));
    copyFileSync(CRITIC_ONNX, path.join(dataDir, "detectors", "road-critic.onnx"));
    if (sharedDetectorAvailable) copyFileSync(YOLOV8N_INT8, path.join(dataDir, "detectors", "yolov8n_int8.onnx"));
    h.db = await backend.open();
    h.api = await startTestService(h.db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, maxSamplesPerJob: 1000, workerConcurrency: 1, ...overrides });
    h.scenarioId = await importScenario(SCENARIO_YAML, "loop-hazards");
    h.debrisScenarioId = await importScenario(DEBRIS_YAML, "loop-debris");
    const detectors = await h.api.graphql(`{ detectors(first: 10) { totalCount edges { node { id name version kind classNames classMap domain } } } }`);
    const road = detectors.data?.detectors.edges.map((e: any) => e.node).find((d: any) => d.name === "road-detector");
    expect(road).toMatchObject({ kind: "package", domain: "AUTOMOTIVE", classNames: ["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"] });
    h.detectorId = road.id;
  });

  afterAll(async () => {
    await h.api?.close();
    await h.db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return h;
}

// The per-condition statistics need samples the gate lets through; the interim shipped generator at 2 steps
// rarely makes one the critic accepts, so this block turns the gate off (every sample is then scored valid).
describe.skipIf(!shippedPresent).each(testBackends())("detector in the loop, statistics, on $name", (backend) => {
  const h = useService(backend, { realismGate: false });

  it("scores a 200-sample job as it is generated: one Score per generated sample, report rates and intervals match the rows", { timeout: 400_000 }, async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const requested = await api.graphql(REQUEST, { scenarioId, count: 200, steps: 2, seed: 5, batchSize: 50, detectorId });
    expect(requested.data?.requestGeneration.__typename).toBe("MutationRequestGenerationSuccess");
    const { id, uuid } = requested.data!.requestGeneration.data;
    const job = await waitForJob(api, id, (j) => ["SUCCEEDED", "PARTIAL", "FAILED"].includes(j?.status), 360_000);
    expect(job.status).toBe("SUCCEEDED");

    const samples = await db.prisma.sample.findMany({ where: { jobId: uuid }, include: { scores: true, detections: true } });
    expect(samples).toHaveLength(200);
    for (const s of samples) {
      expect(s.scores).toHaveLength(1);
      const [score] = s.scores;
      expect(score!.realismValid).toBe(score!.outcome !== "INVALID");
      expect(["HIT", "MISS", "WRONG_CLASS"]).toContain((score!.realismDetails as { detectorOutcome: string }).detectorOutcome);
      for (const d of s.detections) expect(d.x2).toBeGreaterThanOrEqual(d.x1);
    }
    const valid = samples.filter((s) => s.scores[0]!.outcome !== "INVALID");
    const missed = (s: (typeof samples)[number]) => ["MISS", "WRONG_CLASS"].includes(s.scores[0]!.outcome);
    // a realism gate that refused everything (or nothing) would make this test say little
    console.info(`200-sample job: ${valid.length} valid, ${200 - valid.length} INVALID, ${valid.filter(missed).length} misses`);
    expect(valid).toHaveLength(200);

    const report = (await api.graphql(REPORT, { jobId: id, detectorId })).data?.jobReport.data;
    expect(report.samples).toBe(200);
    expect(report.unscored).toBe(0);
    expect(report.invalidCount).toBe(200 - valid.length);
    expect(report.outcomes.invalid).toBe(200 - valid.length);
    expect(report.overall).toMatchObject({ n: valid.length, misses: valid.filter(missed).length, level: 0.95 });
    expectExactInterval(report.overall);

    const byName = new Map(report.byParameter.map((b: any) => [b.parameter, b]));
    for (const [parameter, values] of [
      ["weather", ["clear", "fog"]],
      ["timeOfDay", ["day", "night"]],
      ["hazard", ["animal", "pedestrian", "vehicle"]],
    ] as const) {
      const breakdown: any = byName.get(parameter);
      expect(breakdown.kind).toBe("categorical");
      for (const value of values) {
        const group = valid.filter((s) => (s.parameters as Record<string, unknown>)[parameter] === value);
        const level = breakdown.levels.find((l: any) => l.value === value);
        if (group.length === 0) {
          expect(level).toBeUndefined();
          continue;
        }
        expect(level).toMatchObject({ n: group.length, misses: group.filter(missed).length });
        expect(level.rate).toBeCloseTo(group.filter(missed).length / group.length, 12);
        expectExactInterval(level);
      }
    }
    // continuous parameters: 5 equal bins over the scenario's range [0.08, 0.3]
    const width: any = byName.get("hazardW");
    expect(width.kind).toBe("binned");
    const edges = [0.08, 0.124, 0.168, 0.212, 0.256, 0.3];
    let binned = 0;
    for (let i = 0; i < 5; i++) {
      const group = valid.filter((s) => {
        const w = (s.parameters as Record<string, number>).hazardW!;
        return w >= edges[i]! && (i === 4 ? w <= edges[5]! : w < edges[i + 1]!);
      });
      binned += group.length;
      const level = width.levels.find((l: any) => Math.abs(l.bin[0] - edges[i]!) < 1e-9);
      if (group.length === 0) continue;
      expect(level).toMatchObject({ n: group.length, misses: group.filter(missed).length });
      expect(level.bin[1]).toBeCloseTo(edges[i + 1]!, 9);
      expectExactInterval(level);
    }
    expect(binned).toBe(valid.length);

    // hardest: misses first, then the lowest confidence, each with a link to its file
    const hardest = report.hardest as Array<{ outcome: string; confidence: number | null; artifactUrl: string }>;
    const missCount = valid.filter(missed).length;
    expect(hardest.length).toBe(Math.min(10, valid.length));
    hardest.forEach((h, i) => {
      expect(h.outcome === "MISS" || h.outcome === "WRONG_CLASS").toBe(i < Math.min(missCount, 10));
      expect(h.artifactUrl).toMatch(/^\/artifacts\/[0-9a-f]{64}\?kid=[0-9a-f-]{36}&scopes=AUTOMOTIVE%2CMEDICAL&exp=\d+&sig=[0-9a-f]{64}$/);
    });
    const file = await api.fetch(`${hardest[0]!.artifactUrl}`);
    expect(file.headers.get("content-type")).toBe("image/png");

    // the Sample fields the gallery reads
    const sample = samples.find((s) => s.detections.length > 0) ?? samples[0]!;
    const viaApi = await api.graphql(
      `query($id: ID!, $d: ID!) { sample(id: $id) { ... on QuerySampleSuccess { data { scores(detectorId: $d) { outcome realismValid detector { name } } detections(detectorId: $d) { className confidence x1 y1 x2 y2 } } } } }`,
      { id: Buffer.from(`Sample:${sample.id}`).toString("base64"), d: detectorId },
    );
    expect(viaApi.data?.sample.data.scores).toEqual([{ outcome: sample.scores[0]!.outcome, realismValid: sample.scores[0]!.realismValid, detector: { name: "road-detector" } }]);
    expect(viaApi.data?.sample.data.detections).toHaveLength(sample.detections.length);

    // scoring again on demand is idempotent: nothing new
    const again = await api.graphql(
      `mutation($j: ID!, $d: ID!) { scoreSamples(jobId: $j, detectorId: $d) { __typename ... on MutationScoreSamplesSuccess { data { scored invalid alreadyScored } } ... on Error { message } } }`,
      { j: id, d: detectorId },
    );
    expect(again.data?.scoreSamples.data).toEqual({ scored: 0, invalid: 0, alreadyScored: 200 });
    expect(await db.prisma.score.count({ where: { sample: { jobId: uuid } } })).toBe(200);

    // `rareforge report` prints the same figures as a table
    const cli = await fetchReport({ url: api.service.url, apiKey: adminKey(api), job: uuid, detector: "road-detector" });
    const text = formatReport(cli);
    const overallLine = text.split("\n").find((l) => l.startsWith("overall"))!;
    expect(overallLine.split(/\s{2,}/).slice(1, 3)).toEqual([String(report.overall.n), String(report.overall.misses)]);
    for (const value of ["weather", "clear", "fog", "timeOfDay", "hazardW", "[0.080, 0.124)"]) expect(text).toContain(value);
    await expect(fetchReport({ url: api.service.url, apiKey: adminKey(api), job: uuid, detector: "no-such-detector" })).rejects.toThrow(/^no detector "no-such-detector"; registered: (.+, )?road-detector@1\.0\.0(, |$)/);
  });

});

// The shipped configuration: the road critic's realism gate on with its default thresholds.
describe.skipIf(!shippedPresent).each(testBackends())("detector in the loop on $name", (backend) => {
  const h = useService(backend, {});

  it("scoreSamples scores an unscored job's samples once", { timeout: 120_000 }, async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const requested = await api.graphql(REQUEST, { scenarioId, count: 12, steps: 2, seed: 9, batchSize: 12 });
    const { id, uuid } = requested.data!.requestGeneration.data;
    await waitForJob(api, id, (j) => j?.status === "SUCCEEDED", 100_000);
    expect(await db.prisma.score.count({ where: { sample: { jobId: uuid } } })).toBe(0);
    const SCORE = `mutation($j: ID!, $d: ID!) { scoreSamples(jobId: $j, detectorId: $d) { __typename ... on MutationScoreSamplesSuccess { data { scored invalid alreadyScored } } ... on Error { message } } }`;
    const first = await api.graphql(SCORE, { j: id, d: detectorId });
    expect(first.data?.scoreSamples.data).toMatchObject({ scored: 12, alreadyScored: 0 });
    const rows = await db.prisma.score.findMany({ where: { sample: { jobId: uuid } } });
    expect(rows).toHaveLength(12);
    const invalid = rows.filter((r) => r.outcome === "INVALID");
    expect(invalid).toHaveLength(first.data?.scoreSamples.data.invalid);
    for (const r of invalid) expect((r.realismDetails as { critic: string; reasons: string[] }).reasons.length).toBeGreaterThan(0);
    // road-critic has a look: every score (each of these requests asks for an object) keeps its reading at the
    // requested place, a distribution over the hazard values
    const look = (JSON.parse(readFileSync(path.join(MODELS_DIR, "road-critic", "critic.json"), "utf8")) as { look?: { values: string[] } }).look;
    if (look) {
      for (const r of rows) {
        const atPlace = (r.realismDetails as { atRequestedPlace?: Record<string, number> }).atRequestedPlace;
        expect(Object.keys(atPlace ?? {}).sort()).toEqual([...look.values].sort());
        expect(Object.values(atPlace!).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
    }
    // INVALID samples are counted and left out of every rate
    const report = (await api.graphql(REPORT, { jobId: id, detectorId })).data?.jobReport.data;
    expect(report.invalidCount).toBe(invalid.length);
    const valid = rows.filter((r) => r.outcome !== "INVALID");
    if (valid.length === 0) expect(report.overall).toBeNull();
    else expect(report.overall).toMatchObject({ n: valid.length, misses: valid.filter((r) => r.outcome !== "HIT").length });
    const second = await api.graphql(SCORE, { j: id, d: detectorId });
    expect(second.data?.scoreSamples.data).toEqual({ scored: 0, invalid: 0, alreadyScored: 12 });
  });

  it("a CEM failure search runs as one scored generation job per iteration and exports a derived scenario", { timeout: 300_000 }, async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const started = await api.graphql(
      `mutation($s: ID!, $d: ID!) { startFailureSearch(scenarioId: $s, detectorId: $d, budget: 24, batchSize: 8, method: CEM, steps: 2, seed: 3) {
        __typename ... on MutationStartFailureSearchSuccess { data { id uuid status budget } } ... on Error { message } } }`,
      { s: scenarioId, d: detectorId },
    );
    expect(started.data?.startFailureSearch.__typename).toBe("MutationStartFailureSearchSuccess");
    const { id, uuid } = started.data!.startFailureSearch.data;
    const events: any[] = [];
    await subscribeSse(api, `subscription($id: ID!) { searchProgress(searchId: $id) { status evaluatedCount failureCount } }`, { id }, (e) => events.push(e.data.searchProgress));
    expect(events.at(-1)).toMatchObject({ status: "SUCCEEDED", evaluatedCount: 24 });
    const counts = events.map((e) => e.evaluatedCount);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));

    const search = (
      await api.graphql(
        `query($id: ID!) { failureSearch(id: $id) { ... on QueryFailureSearchSuccess { data {
          status evaluatedCount failureCount failureRate { n misses lower upper } sampler steps guidance
          nominalFailureRate { estimate lower upper effectiveSampleSize method }
          iterations { iteration n failures invalid valid failureRate job { uuid count } }
          derivedScenario { name currentVersion { source derivedFrom spec } }
          jobs(first: 10) { totalCount }
          failureSamples(first: 50) { totalCount edges { node { uuid scores(detectorId: "${detectorId}") { outcome } } } } } } } }`,
        { id },
      )
    ).data?.failureSearch.data;
    // given settings are kept; left out, sampler and guidance are the scenario model's shipped defaults
    const modelDefaults = JSON.parse(readFileSync(path.join(MODELS_DIR, "road-hazards", "model.json"), "utf8")).defaults;
    expect(search).toMatchObject({ sampler: modelDefaults.sampler, steps: 2, guidance: modelDefaults.guidance });
    expect(search.iterations).toHaveLength(3);
    expect(search.jobs.totalCount).toBe(3);
    for (const it of search.iterations) {
      expect(it.job.count).toBe(8);
      expect(it.valid + it.invalid).toBeLessThanOrEqual(8);
      const jobScores = await db.prisma.score.findMany({ where: { sample: { jobId: it.job.uuid } } });
      expect(it.failures).toBe(jobScores.filter((s) => s.outcome === "MISS" || s.outcome === "WRONG_CLASS").length);
      expect(it.invalid).toBe(jobScores.filter((s) => s.outcome === "INVALID").length);
    }
    // iteration jobs draw the search's proposals, stored per index, not the scenario's own distribution
    const firstJob = await db.prisma.generationJob.findUniqueOrThrow({ where: { id: search.iterations[0].job.uuid } });
    expect(firstJob.searchId).toBe(uuid);
    const proposals = (firstJob.options as { parameters: Record<string, unknown>[] }).parameters;
    const drawn = await db.prisma.sample.findMany({ where: { jobId: firstJob.id }, orderBy: { index: "asc" } });
    expect(drawn.map((s) => s.parameters)).toEqual(proposals);
    // each iteration stores the distribution it drew from, so the nominal rate can weight its samples
    const stored = await db.prisma.failureSearch.findUniqueOrThrow({ where: { id: uuid } });
    for (const it of stored.iterations as Array<{ proposal?: { kind: string } }>) expect(it.proposal?.kind).toBe("learned");
    if (search.failureRate === null) expect(search.nominalFailureRate).toBeNull();
    else {
      const nominal = search.nominalFailureRate;
      expect(nominal.lower).toBeLessThanOrEqual(nominal.estimate);
      expect(nominal.estimate).toBeLessThanOrEqual(nominal.upper);
      expect(nominal.effectiveSampleSize).toBeGreaterThan(0);
      expect(nominal.effectiveSampleSize).toBeLessThanOrEqual(search.failureRate.n + 1e-9);
    }

    expect(search.failureSamples.totalCount).toBe(search.failureCount);
    for (const e of search.failureSamples.edges) expect(["MISS", "WRONG_CLASS"]).toContain(e.node.scores[0].outcome);
    expect(search.derivedScenario.currentVersion.source).toBe("SEARCH");
    expect(search.derivedScenario.currentVersion.derivedFrom).toMatchObject({ failureSearchId: uuid, method: "CEM", baseScenario: { name: "loop-hazards" }, detector: { name: "road-detector" } });
    expect(search.derivedScenario.currentVersion.spec.parameters.weather.kind).toBe("choice");
    // search iterations do not leak into the scenario's own report
    const scenarioReport = await api.graphql(`query($s: ID!, $d: ID!) { scenarioReport(scenarioId: $s, detectorId: $d) { ... on QueryScenarioReportSuccess { data { samples } } } }`, {
      s: scenarioId,
      d: detectorId,
    });
    const own = await db.prisma.sample.count({ where: { scenarioVersion: { scenarioId: decodeGlobalID(scenarioId).id }, job: { searchId: null }, status: "OK" } });
    expect(scenarioReport.data?.scenarioReport.data.samples).toBe(own);
  });

  it("rareforge search starts a search and follows its progress to the end", { timeout: 200_000 }, async () => {
    const { api } = h;
    const snapshots: SearchSnapshot[] = [];
    const result = await runSearch({ url: api.service.url, apiKey: adminKey(api), scenario: "loop-hazards", detector: "road-detector", budget: 12, method: "halton", batch: 6, steps: 2, seed: 4, onProgress: (s) => snapshots.push(s) });
    expect(result).toMatchObject({ method: "HALTON", status: "SUCCEEDED", evaluatedCount: 12, derivedScenario: null });
    expect(result.iterations.map((i: { n: number }) => i.n)).toEqual([6, 6]);
    expect(snapshots.at(-1)).toMatchObject({ status: "SUCCEEDED", evaluatedCount: 12 });
    expect(formatSearch(result)).toMatch(/failure search [0-9a-f-]{36} \(HALTON\): SUCCEEDED\n  iteration  0: /);
    // a Halton design stands for uniform draws, and this scenario's parameters are all uniform: every weight is equal
    if (result.failureRate === null) expect(result.nominalFailureRate).toBeNull();
    else {
      expect(result.nominalFailureRate.estimate).toBeCloseTo(result.failureRate.rate, 9);
      expect(result.nominalFailureRate.effectiveSampleSize).toBeCloseTo(result.failureRate.n, 6);
      expect(formatSearch(result)).toMatch(/nominal failure rate [0-9.]+ % \[[0-9.]+, [0-9.]+\] under the scenario's own distribution/);
    }
    await expect(runSearch({ url: api.service.url, apiKey: adminKey(api), scenario: "loop-hazards", detector: "road-detector", budget: 0, method: "cem" })).rejects.toThrow(/ValidationError: invalid failure search: budget/);
    // the CEM settings reach the service: a smoothing of 0 is refused there, naming the field
    await expect(runSearch({ url: api.service.url, apiKey: adminKey(api), scenario: "loop-hazards", detector: "road-detector", budget: 8, method: "cem", elite: 0.2, smoothing: 0 })).rejects.toThrow(/ValidationError: invalid failure search: smoothing/);
  });

  it("refuses a budget <= 0, an unknown method's settings and an unmappable scenario with typed errors and no rows", async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const before = await rowCounts();
    for (const budget of [0, -5]) {
      const refused = await api.graphql(
        `mutation($s: ID!, $d: ID!, $b: Int!) { startFailureSearch(scenarioId: $s, detectorId: $d, budget: $b, method: RANDOM) { __typename ... on ValidationError { issues { path message } } } }`,
        { s: scenarioId, d: detectorId, b: budget },
      );
      expect(refused.data?.startFailureSearch.__typename).toBe("ValidationError");
      expect(refused.data?.startFailureSearch.issues[0].path).toBe("budget");
    }
    const badSmoothing = await api.graphql(
      `mutation($s: ID!, $d: ID!) { startFailureSearch(scenarioId: $s, detectorId: $d, budget: 10, method: CEM, smoothing: 0) { __typename ... on ValidationError { issues { path } } } }`,
      { s: scenarioId, d: detectorId },
    );
    expect(badSmoothing.data?.startFailureSearch.issues).toEqual([{ path: "smoothing" }]);
    expect(await rowCounts()).toEqual(before);
  });

  it("refuses a detector ONNX with an unexpected output layout before writing anything", async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const before = await rowCounts();
    const refused = await api.graphql(
      `mutation($p: String!) { registerDetector(path: $p, classes: ["a", "b"]) { __typename ... on DetectorUnusableError { code message } } }`,
      { p: "road-critic.onnx" },
    );
    expect(refused.data?.registerDetector).toMatchObject({ __typename: "DetectorUnusableError", code: "unexpected-output-layout" });
    expect(refused.data?.registerDetector.message).toContain('"condition"');
    const missing = await api.graphql(`mutation { registerDetector(path: "/nonexistent/model.onnx") { __typename ... on DetectorUnusableError { code } } }`);
    expect(missing.data?.registerDetector).toEqual({ __typename: "DetectorUnusableError", code: "not-found" });
    expect(await rowCounts()).toEqual(before);
  });

  it.skipIf(!sharedDetectorAvailable)("registers the Ultralytics export unchanged; refuses a class map naming unknown classes and a scenario it cannot score", { timeout: 120_000 }, async () => {
    const { api, db, scenarioId, debrisScenarioId, detectorId, rowCounts } = h;
    const before = await rowCounts();
    const REGISTER = `mutation($p: String!, $m: JSON) { registerDetector(path: $p, classMap: $m) { __typename
      ... on MutationRegisterDetectorSuccess { data { id name kind classNames classMap } } ... on DetectorUnusableError { code message } } }`;
    const typo = await api.graphql(REGISTER, { p: "yolov8n_int8.onnx", m: { pedestrian: "persn", animal: ["dog", "unicorn"] } });
    expect(typo.data?.registerDetector).toMatchObject({ __typename: "DetectorUnusableError", code: "unknown-class" });
    expect(typo.data?.registerDetector.message).toMatch(/"persn".*"unicorn"/);
    expect(await rowCounts()).toEqual(before);

    const ok = await api.graphql(REGISTER, { p: "yolov8n_int8.onnx" });
    const coco = ok.data?.registerDetector.data;
    expect(coco).toMatchObject({ name: "yolov8n_int8", kind: "ultralytics-onnx" });
    expect(coco.classNames).toHaveLength(80);
    expect(coco.classMap.pedestrian).toEqual(["person"]);

    // debris has no COCO class: a job asking this detector to score it is refused before it exists
    const refused = await api.graphql(REQUEST, { scenarioId: debrisScenarioId, count: 4, steps: 2, seed: 1, batchSize: 4, detectorId: coco.id });
    expect(refused.data?.requestGeneration.__typename).toBe("ValidationError");
    expect(refused.data?.requestGeneration.issues[0].message).toContain('"debris"');
    expect((await rowCounts()).jobs).toBe(before.jobs);
  });
});
