// The gallery in a real browser (playwright-core driving Debian's chromium, headless), signed in with the admin
// key: scenarios -> scenario (jobs, report chart) -> job grid -> misses only -> sample page with provenance;
// reproduce a real sample; DICOM window/level. Boxes are checked where they land on screen: the green (intended)
// and magenta (detected) boxes found in a screenshot of the canvas must sit at the stored coordinates times the
// drawing scale. Screenshots go to test-results/gallery/. Sign-in itself: sign-in.browser.test.ts. Skipped,
// saying so, only where /usr/bin/chromium is absent.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { decode as decodePng } from "fast-png";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { seedJob, type SeededJob } from "../export/seed.ts";
import { createTinyScenario, jobTestDirs, REQUEST, waitForJob, type JobTestDirs } from "../jobs/helpers.ts";
import { globalId, hasChromium, launchBrowser, ready as readyIn, signIn, SKIPPED, type GalleryBrowser } from "./browser.ts";

const SCREENSHOTS = new URL("../../test-results/gallery/", import.meta.url).pathname;

/** Bounding box of the pixels of a colour in a PNG screenshot (tolerant of antialiased edges). */
function colourBounds(png: Uint8Array, match: (r: number, g: number, b: number) => boolean) {
  const image = decodePng(png);
  const channels = image.channels;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let y = 0; y < image.height; y++)
    for (let x = 0; x < image.width; x++) {
      const o = (y * image.width + x) * channels;
      if (match(image.data[o]!, image.data[o + 1]!, image.data[o + 2]!)) {
        minX = Math.min(minX, x);
        minY = Math.min(minY, y);
        maxX = Math.max(maxX, x);
        maxY = Math.max(maxY, y);
      }
    }
  return Number.isFinite(minX) ? { minX, minY, maxX, maxY } : null;
}
const isGreen = (r: number, g: number, b: number) => g > 200 && r < 90 && b < 90;
const isMagenta = (r: number, g: number, b: number) => r > 200 && b > 200 && g < 90;

describe.skipIf(!hasChromium)(hasChromium ? "gallery in headless Chromium" : `gallery in headless Chromium: SKIPPED, ${SKIPPED}`, () => {
  let db: Database;
  let api: TestService;
  let dirs: JobTestDirs;
  let road: SeededJob;
  let brain: SeededJob;
  let tinyJobId: string;
  let browser: GalleryBrowser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    dirs = jobTestDirs();
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { modelsDir: dirs.modelsDir, dataDir: dirs.dataDir, importLibraryOnStart: false, workerConcurrency: 1 });
    const store = artifactStoreFromConfig({ dataDir: dirs.dataDir });
    road = await seedJob(db, store, { scenario: "pedestrian-fog-motorway", count: 24, outcome: (i) => (["HIT", "MISS", "WRONG_CLASS", "INVALID"] as const)[i % 4]! });
    brain = await seedJob(db, store, { scenario: "small-tumour-near-ventricle", count: 2, medicalFiles: true });
    // A real job of the tiny model, so "reproduce" regenerates a sample and compares its hash.
    const scenarioId = await createTinyScenario(api);
    const requested = await api.graphql(REQUEST, { scenarioId, count: 2, batchSize: 2, sampler: "DDIM", steps: 2, guidance: 3, seed: 5 });
    const tinyJob = requested.data!.requestGeneration.data;
    tinyJobId = tinyJob.uuid;
    await waitForJob(api, tinyJob.id, (job) => job.status === "SUCCEEDED");

    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    // The key stays in this tab's sessionStorage, so every test below is signed in.
    await signIn(page, api.service.url, api.adminKey);
  });

  afterEach(() => {
    expect(browser.cspViolations).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await db?.close();
    dirs?.remove();
  });

  const ready = (prefix = "") => readyIn(page, prefix);
  const sampleCanvas = (sampleId: string) => page.waitForSelector(`#sample-canvas[data-drawn="true"][data-sample="${sampleId}"]`);
  const openSample = async (sampleId: string) => {
    await page.goto(`${api.service.url}/gallery/#/sample/${encodeURIComponent(globalId("Sample", sampleId))}`);
    await ready("#/sample/");
    await sampleCanvas(sampleId);
  };
  /** Where a box drawn with a 2-pixel stroke centred on its edges covers, [edge - 1, edge + 1), at `scale`. */
  const expectDrawnAt = (found: ReturnType<typeof colourBounds>, box: { x1: number; y1: number; x2: number; y2: number }, scale: number) => {
    expect(found).not.toBeNull();
    expect(Math.abs(found!.minX - (box.x1 * scale - 1))).toBeLessThanOrEqual(2);
    expect(Math.abs(found!.minY - (box.y1 * scale - 1))).toBeLessThanOrEqual(2);
    expect(Math.abs(found!.maxX - (box.x2 * scale + 1))).toBeLessThanOrEqual(2);
    expect(Math.abs(found!.maxY - (box.y2 * scale + 1))).toBeLessThanOrEqual(2);
  };

  it("lists scenarios, opens a scenario's jobs and report chart, a job's grid, filters to misses, and opens a sample's provenance", async () => {
    await page.goto(`${api.service.url}/`);
    expect(page.url()).toBe(`${api.service.url}/gallery/`);
    await ready();
    expect(await page.textContent("#signed-in-as")).toMatch(/admin · automotive, medical/);
    expect(await page.$$eval("#scenarios a[data-scenario]", (links) => links.map((a) => a.getAttribute("data-scenario")))).toEqual(
      expect.arrayContaining([road.scenarioName, brain.scenarioName]),
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "scenarios.png"), fullPage: true });
    await page.click(`a[data-scenario="${road.scenarioName}"]`);
    await ready("#/scenario/");
    await page.waitForSelector("svg.chart rect.bar");
    const bars = await page.$$eval("svg.chart rect.bar", (rects) => rects.map((r) => Number(r.getAttribute("data-rate"))));
    expect(bars.length).toBeGreaterThan(0);
    expect(bars.every((rate) => rate >= 0 && rate <= 1)).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOTS, "scenario.png"), fullPage: true });

    await page.click(`a[data-job="${road.jobId}"]`);
    await ready("#/job/");
    await page.waitForFunction((n) => document.querySelectorAll('#samples canvas[data-drawn="true"]').length === n, road.samples.length);
    expect(await page.textContent("#sample-count")).toBe(`${road.samples.length} samples`);
    await page.screenshot({ path: path.join(SCREENSHOTS, "job.png"), fullPage: true });

    await page.check("#misses-only");
    await page.waitForFunction(() => location.hash.includes("misses=1"));
    await ready("#/job/");
    const misses = road.samples.filter((s) => s.outcome === "MISS" || s.outcome === "WRONG_CLASS");
    await page.waitForFunction((n) => document.querySelectorAll('#samples canvas[data-drawn="true"]').length === n, misses.length);
    const cards = await page.$$eval("#samples .card", (links) => links.map((a) => ({ id: a.getAttribute("data-sample"), outcome: a.getAttribute("data-outcome") })));
    expect(cards.map((c) => c.id).sort()).toEqual(misses.map((s) => s.id).sort());
    expect(cards.every((c) => c.outcome === "MISS" || c.outcome === "WRONG_CLASS")).toBe(true);
    await page.screenshot({ path: path.join(SCREENSHOTS, "job-misses.png"), fullPage: true });

    const target = misses[0]!;
    await page.click(`.card[data-sample="${target.id}"]`);
    await ready("#/sample/");
    await sampleCanvas(target.id);
    const panel = await page.textContent("#provenance");
    expect(panel).toContain(target.id);
    expect(panel).toContain("road-hazards");
    expect(panel).toContain(`7 / ${target.index}`);
    const record = JSON.parse((await page.textContent("#provenance-json"))!);
    expect(record.record).toMatchObject({ index: target.index, parameters: target.parameters, sampler: "ddim" });
    expect(await page.textContent("#scores")).toContain(target.outcome!);
    await page.screenshot({ path: path.join(SCREENSHOTS, "sample.png"), fullPage: true });
  });

  it("draws the intended box and the detection where the stored coordinates put them, on the sample page and in the grid", async () => {
    const target = road.samples.find((s) => s.outcome === "WRONG_CLASS")!;
    const stored = await db.prisma.sample.findUniqueOrThrow({ where: { id: target.id }, select: { labels: true, detections: true } });
    const [box] = (stored.labels as { boxes: Array<{ class: string; x: number; y: number; width: number; height: number }> }).boxes;
    const [detection] = stored.detections;
    expect(box).toBeDefined();
    expect(detection).toBeDefined();
    const intended = { x1: box!.x, y1: box!.y, x2: box!.x + box!.width, y2: box!.y + box!.height };

    await openSample(target.id);
    const canvas = page.locator("#sample-canvas");
    const scale = Number(await canvas.getAttribute("data-scale"));
    // 64-pixel road-hazards images are drawn 8 times larger (the longer side fitted into 512 pixels).
    expect(scale).toBe(512 / road.manifest.image.width);
    const shot = await canvas.screenshot({ path: path.join(SCREENSHOTS, "sample-boxes.png") });
    expectDrawnAt(colourBounds(shot, isGreen), intended, scale);
    expectDrawnAt(colourBounds(shot, isMagenta), detection!, scale);
    // The table beside it gives the same boxes in numbers.
    const rows = await page.$$eval("#boxes tr[data-kind]", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(rows).toEqual([
      ["intended", box!.class, "scenario", "—", [box!.x, box!.y, box!.width, box!.height].map((v) => v.toFixed(1)).join(", ")],
      ["detected", detection!.className, "automotive-test-detector", detection!.confidence.toFixed(3), [detection!.x1, detection!.y1, detection!.x2 - detection!.x1, detection!.y2 - detection!.y1].map((v) => v.toFixed(1)).join(", ")],
    ]);

    // The same sample's card in the job grid, at the grid's scale.
    await page.goto(`${api.service.url}/gallery/#/job/${encodeURIComponent(globalId("GenerationJob", road.jobId))}`);
    await ready("#/job/");
    const card = await page.waitForSelector(`.card[data-sample="${target.id}"] canvas[data-drawn="true"]`);
    const cardScale = Number(await card.getAttribute("data-scale"));
    expect(cardScale).toBe(3);
    const cardShot = await card.screenshot({ path: path.join(SCREENSHOTS, "card-boxes.png") });
    expectDrawnAt(colourBounds(cardShot, isGreen), intended, cardScale);
    expectDrawnAt(colourBounds(cardShot, isMagenta), detection!, cardScale);
  });

  it("reproduces a generated sample from its record with the button", async () => {
    const sample = await db.prisma.sample.findFirstOrThrow({ where: { jobId: tinyJobId }, orderBy: { index: "asc" } });
    await openSample(sample.id);
    await page.click("#reproduce");
    await page.waitForFunction(() => /Reproduced|Different|error/i.test(document.querySelector("#reproduction")?.textContent ?? ""), undefined, { timeout: 60_000 });
    expect(await page.textContent("#reproduction")).toMatch(/Reproduced: same sha256/);
    await page.screenshot({ path: path.join(SCREENSHOTS, "reproduced.png"), fullPage: true });
  });

  it("shows a DICOM sample through a window that the controls change", async () => {
    const sample = brain.samples[0]!;
    await openSample(sample.id);
    await page.waitForSelector("#window-center");
    await page.screenshot({ path: path.join(SCREENSHOTS, "dicom.png"), fullPage: true });
    const centrePixel = async () => {
      const shot = decodePng(await page.locator("#sample-canvas").screenshot());
      const o = (Math.floor(shot.height / 2) * shot.width + 4) * shot.channels;
      return shot.data[o]!;
    };
    const before = await centrePixel();
    // A narrow window far above the background's values turns the background black.
    await page.$eval("#window-center", (input: HTMLInputElement) => {
      input.value = input.max;
      input.dispatchEvent(new Event("input"));
    });
    await page.$eval("#window-width", (input: HTMLInputElement) => {
      input.value = "1";
      input.dispatchEvent(new Event("input"));
    });
    const after = await centrePixel();
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(0);
    await page.screenshot({ path: path.join(SCREENSHOTS, "dicom-window.png"), fullPage: true });
  });
});
