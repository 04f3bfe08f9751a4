// A suite run's gallery page in a real browser (playwright-core driving Debian's chromium, headless): the verdict,
// the regressions section, one criteria row per stored criterion with its status, and links from the hardest
// samples to their sample pages. Skipped, saying so, where /usr/bin/chromium or the shipped models are absent.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { globalId, hasChromium, launchBrowser, ready, signIn, SKIPPED, type GalleryBrowser } from "../gallery/browser.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url).pathname;
const SCENARIO = readFileSync(new URL("../../scenarios/deer-crossing-night-fog.yaml", import.meta.url), "utf8");
const shippedPresent = ["road-hazards", "road-detector"].every((p) => existsSync(path.join(MODELS_DIR, p)));

describe.skipIf(!hasChromium || !shippedPresent)(hasChromium ? "a suite run's gallery page" : `a suite run's gallery page: SKIPPED, ${SKIPPED}`, () => {
  let db: Database;
  let api: TestService;
  let dataDir: string;
  let browser: GalleryBrowser;
  let page: Page;
  let run: any;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-suite-page-"));
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: MODELS_DIR, dataDir, importLibraryOnStart: false, realismGate: false, workerConcurrency: 1 });
    await api.graphql(`mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename } }`, { yaml: SCENARIO });
    const spec = {
      name: "page-gate",
      scenarios: [{ scenario: "deer-crossing-night-fog", samples: 6, seed: 5, steps: 2, criteria: { maxMissRate: 0, maxRegression: 0, conditions: [{ where: { weather: "fog" }, maxMissRate: 1 }] } }],
    };
    const suite = await api.graphql(`mutation($spec: JSON!) { createSuite(spec: $spec) { ... on MutationCreateSuiteSuccess { data { id } } } }`, { spec });
    const detectors = await api.graphql(`{ detectors(first: 10) { edges { node { id name } } } }`);
    const road = detectors.data!.detectors.edges.find((e: any) => e.node.name === "road-detector").node.id;
    // the detector against itself: every paired test has p = 1 and no regression
    const started = await api.graphql(`mutation($s: ID!, $d: ID!) { runSuite(suiteId: $s, detectorId: $d, baselineDetectorId: $d) { ... on MutationRunSuiteSuccess { data { id uuid } } } }`, {
      s: suite.data!.createSuite.data.id,
      d: road,
    });
    const { id, uuid } = started.data!.runSuite.data;
    await api.service.services.suites.settled(uuid);
    run = (await api.graphql(`query($id: ID!) { suiteRun(id: $id) { ... on QuerySuiteRunSuccess { data { id status report criteria { kind status message } } } } }`, { id })).data!.suiteRun.data;
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await signIn(page, api.service.url, api.adminKey);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows the verdict, no regression, and one row per criterion with its stored status", { timeout: 60_000 }, async () => {
    expect(run.status).toBe("FAILED");
    await page.goto(`${api.service.url}/gallery/#/suite-run/${encodeURIComponent(run.id)}`);
    await ready(page, "#/suite-run/");
    expect(await page.textContent("#view")).toMatch(/^Suite page-gate v1/);
    expect(await page.getAttribute("#suite-status", "data-status")).toBe("FAILED");
    expect(await page.textContent("#view")).toContain("No significant regression against the baseline.");
    const rows = await page.$$eval("tr[data-criterion]", (trs) => trs.map((tr) => ({ criterion: tr.getAttribute("data-criterion"), status: tr.getAttribute("data-status") })));
    expect(rows).toEqual([
      { criterion: "maxMissRate", status: "FAILED" },
      { criterion: "maxMissRate [weather=fog]", status: "PASSED" },
      { criterion: "maxRegression", status: "PASSED" },
      // the scenario's maxRegression is inherited by its condition
      { criterion: "maxRegression [weather=fog]", status: "PASSED" },
    ]);
    expect(rows.map((r) => r.status)).toEqual(run.criteria.map((c: any) => c.status));
    expect(browser.cspViolations).toEqual([]);
  });

  it("links the hardest samples to their sample pages", { timeout: 60_000 }, async () => {
    const hardest = run.report.scenarios[0].hardest[0];
    await page.click(`a[data-sample="${hardest.sampleId}"]`);
    await ready(page, "#/sample/");
    expect(decodeURIComponent(new URL(page.url()).hash)).toBe(`#/sample/${globalId("Sample", hardest.sampleId)}`);
  });
});
