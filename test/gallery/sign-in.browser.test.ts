// Signing in to the gallery, in a real browser (playwright-core driving Debian's chromium, headless): the API key
// goes in through an accessible form, stays in the tab's sessionStorage (no localStorage, no cookie) and rides on
// every /graphql request as Authorization: Bearer; images and DICOM files load through the signed URLs the API
// returns, with no header. A refused key (unknown, or revoked, also while signed in) is forgotten, the form says so
// and no data is shown. A viewer key without the medical scope does not see medical samples; the admin key does.
// Each test opens its own tab, so each starts signed out. Skipped, saying so, where /usr/bin/chromium is absent.
import { randomBytes } from "node:crypto";
import type { Page, Request } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/index.ts";
import { artifactStoreFromConfig } from "../../src/storage/index.ts";
import { seedJob, type SeededJob } from "../export/seed.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { globalId, hasChromium, launchBrowser, ready, settledSession, signIn, SKIPPED, submitKey, type GalleryBrowser } from "./browser.ts";

const STORAGE_NAME = "rareforge.apiKey";

describe.skipIf(!hasChromium)(hasChromium ? "gallery sign-in in headless Chromium" : `gallery sign-in in headless Chromium: SKIPPED, ${SKIPPED}`, () => {
  let db: Database;
  let api: TestService;
  let road: SeededJob;
  let brain: SeededJob;
  let browser: GalleryBrowser;
  let page: Page;
  /** Every request the test's tab made, in order. */
  let requests: Request[];

  beforeAll(async () => {
    db = await openDatabase({ kind: "pglite" });
    api = await startTestService(db, { importLibraryOnStart: false, runWorker: false });
    const store = artifactStoreFromConfig(api.config);
    road = await seedJob(db, store, { scenario: "pedestrian-fog-motorway", count: 1 });
    brain = await seedJob(db, store, { scenario: "small-tumour-near-ventricle", count: 1, medicalFiles: true });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await db?.close();
  });

  const openTab = async () => {
    page = await browser.context.newPage();
    requests = [];
    page.on("request", (request) => void requests.push(request));
    return page;
  };
  afterEach(async () => {
    await page?.close();
    expect(browser.cspViolations).toEqual([]);
  });

  const gallery = (hash = "") => `${api.service.url}/gallery/${hash}`;
  const jobHash = (job: SeededJob) => `#/job/${encodeURIComponent(globalId("GenerationJob", job.jobId))}`;
  const sampleHash = (job: SeededJob) => `#/sample/${encodeURIComponent(globalId("Sample", job.samples[0]!.id))}`;
  const keyPrefix = (key: string) => key.slice(0, "rf_".length + 12);
  const randomKey = () => `rf_${randomBytes(6).toString("hex")}_${randomBytes(32).toString("base64url")}`;
  const scenarioNames = () => page.$$eval("#scenarios a[data-scenario]", (links) => links.map((a) => a.getAttribute("data-scenario")));
  const storedKey = () => page.evaluate((name) => sessionStorage.getItem(name), STORAGE_NAME);
  const focusedId = () => page.evaluate(() => document.activeElement?.id);
  const artifactRequests = () => requests.filter((r) => new URL(r.url()).pathname.startsWith("/artifacts/"));
  const graphqlRequests = () => requests.filter((r) => new URL(r.url()).pathname === "/graphql");
  /** naturalWidth of each URL loaded as an image in the page (0 when it does not load). */
  const naturalWidths = (urls: string[]) =>
    page.evaluate(
      (urls) =>
        Promise.all(
          urls.map(
            (url) =>
              new Promise<number>((resolve) => {
                const image = new Image();
                image.onload = () => resolve(image.naturalWidth);
                image.onerror = () => resolve(0);
                image.src = url;
              }),
          ),
        ),
      urls,
    );
  /** Status of a fresh (uncached) GET of `url` from the page, with no header. */
  const statusOf = (url: string) => page.evaluate(async (url) => (await fetch(url, { cache: "no-store" })).status, url);

  /** The page as it is while signed out: the form, focused, and no data. */
  const expectSignedOut = async (message: RegExp | null) => {
    expect(await page.evaluate(() => document.body.dataset.session)).toBe("signed-out");
    expect(await page.isVisible("#sign-in")).toBe(true);
    expect(await page.isVisible("#session")).toBe(false);
    expect(await focusedId()).toBe("api-key");
    expect(await page.$eval("#view", (view) => view.childElementCount)).toBe(0);
    expect(await page.textContent("#breadcrumbs")).toBe("");
    expect(await storedKey()).toBeNull();
    if (message) {
      expect(await page.textContent("#sign-in-error")).toMatch(message);
      expect(await page.getAttribute("#api-key", "aria-invalid")).toBe("true");
    } else expect(await page.textContent("#sign-in-error")).toBe("");
  };

  it("shows only an accessible sign-in form while signed out, and asks for no data", async () => {
    await openTab();
    // A deep link to a job: nothing of it is fetched or shown until a key is given.
    const response = await page.goto(gallery(jobHash(road)));
    expect(await settledSession(page)).toBe("signed-out");
    await expectSignedOut(null);
    // Only the gallery's own files run, and the form is never submitted natively (the key would land in a URL).
    expect(response?.headers()["content-security-policy"]).toMatch(/script-src 'self';.*form-action 'none'/);
    const input = page.getByLabel("API key");
    expect(await input.getAttribute("type")).toBe("password");
    expect(await input.getAttribute("id")).toBe("api-key");
    expect(await page.getByRole("button", { name: "Sign in" }).isVisible()).toBe(true);
    expect(await page.getAttribute("#sign-in-error", "role")).toBe("alert");
    expect(graphqlRequests()).toHaveLength(0);

    // An empty key is not sent either.
    expect(await submitKey(page, "  ")).toBe("signed-out");
    expect(await page.textContent("#sign-in-error")).toBe("Enter an API key.");
    expect(graphqlRequests()).toHaveLength(0);

    // Signing in then opens the page the link named.
    expect(await submitKey(page, api.adminKey)).toBe("signed-in");
    await ready(page, "#/job/");
    expect(await page.$$eval("#samples .card", (cards) => cards.map((c) => c.getAttribute("data-sample")))).toEqual([road.samples[0]!.id]);
  });

  it("signs in with the admin key: who is signed in, every sample, the key in sessionStorage only and on every /graphql request, images through signed URLs", async () => {
    await openTab();
    await signIn(page, api.service.url, api.adminKey);
    expect(await page.textContent("#signed-in-as")).toBe(`Signed in as ${keyPrefix(api.adminKey)} · admin · automotive, medical`);
    await ready(page);
    expect(await scenarioNames()).toEqual(expect.arrayContaining([road.scenarioName, brain.scenarioName]));

    // The key lives in this tab's sessionStorage and nowhere else.
    expect(await storedKey()).toBe(api.adminKey);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    expect(await browser.context.cookies()).toEqual([]);

    // Both jobs' samples, drawn from images loaded through signed URLs.
    for (const job of [road, brain]) {
      await page.goto(gallery(jobHash(job)));
      await ready(page, "#/job/");
      await page.waitForSelector(`.card[data-sample="${job.samples[0]!.id}"] canvas[data-drawn="true"]`);
    }
    await page.goto(gallery(sampleHash(brain)));
    await ready(page, "#/sample/");
    await page.waitForSelector(`#sample-canvas[data-drawn="true"][data-sample="${brain.samples[0]!.id}"]`);

    for (const request of graphqlRequests()) expect((await request.allHeaders()).authorization).toBe(`Bearer ${api.adminKey}`);
    const artifacts = artifactRequests();
    const fetched = new Set(artifacts.map((r) => new URL(r.url()).pathname.slice("/artifacts/".length)));
    const dicom = brain.samples[0]!.files.find((f) => f.role === "dicom")!;
    expect([...fetched]).toEqual(expect.arrayContaining([road.samples[0]!.sha256, dicom.sha256]));
    for (const request of artifacts) {
      const url = new URL(request.url());
      expect([...url.searchParams.keys()].sort()).toEqual(["exp", "kid", "scopes", "sig"]);
      expect(url.searchParams.get("scopes")).toBe("AUTOMOTIVE,MEDICAL");
      expect((await request.allHeaders()).authorization).toBeUndefined();
      expect((await request.response())?.status()).toBe(200);
    }
    // The signed image URLs load as images; without the signature the same path is refused.
    const images = artifacts.filter((r) => !new URL(r.url()).pathname.endsWith(dicom.sha256)).map((r) => r.url());
    expect(images.length).toBeGreaterThan(0);
    for (const width of await naturalWidths(images)) expect(width).toBeGreaterThan(0);
    expect(await statusOf(new URL(images[0]!).pathname)).toBe(401);

    // Another tab of the same browser is not signed in.
    const other = await browser.context.newPage();
    await other.goto(gallery());
    expect(await settledSession(other)).toBe("signed-out");
    await other.close();

    // Signing out forgets the key and everything shown with it, also after a reload.
    await page.click("#sign-out");
    await expectSignedOut(null);
    await page.reload();
    expect(await settledSession(page)).toBe("signed-out");
    await expectSignedOut(null);
  });

  it("refuses an unknown key and a revoked one: the form says so, the key is forgotten, no samples are shown", async () => {
    await openTab();
    await page.goto(gallery(jobHash(road)));
    expect(await settledSession(page)).toBe("signed-out");
    expect(await submitKey(page, randomKey())).toBe("signed-out");
    await expectSignedOut(/API key was refused/);
    expect(await page.$("#samples")).toBeNull();

    const revoked = await api.createKey("VIEWER", ["AUTOMOTIVE", "MEDICAL"], "revoked before use");
    await api.service.services.keys.revoke(keyPrefix(revoked));
    expect(await submitKey(page, revoked)).toBe("signed-out");
    await expectSignedOut(/API key was refused/);
    expect(await page.$("#samples")).toBeNull();
  });

  it("signs out, saying why, when the key is revoked while signed in; its signed URLs stop working", async () => {
    await openTab();
    const key = await api.createKey("VIEWER", ["AUTOMOTIVE", "MEDICAL"], "revoked while signed in");
    await signIn(page, api.service.url, key, jobHash(road));
    await ready(page, "#/job/");
    await page.waitForSelector(`.card[data-sample="${road.samples[0]!.id}"] canvas[data-drawn="true"]`);
    const signedUrl = artifactRequests()[0]!.url();
    expect(await statusOf(signedUrl)).toBe(200);

    const revokedNow = await api.graphql(`mutation($id: String!) { revokeApiKey(id: $id) { __typename } }`, { id: keyPrefix(key) });
    expect(revokedNow.data?.revokeApiKey.__typename).toBe("MutationRevokeApiKeySuccess");
    await page.click(`a.brand`);
    await page.waitForFunction(() => document.body.dataset.session === "signed-out");
    await expectSignedOut(/API key was refused/);
    expect(await statusOf(signedUrl)).toBe(401);
  });

  it("shows a viewer without the medical scope the automotive sample only; the admin key sees both", async () => {
    await openTab();
    const viewer = await api.createKey("VIEWER", ["AUTOMOTIVE"], "automotive viewer");
    await signIn(page, api.service.url, viewer);
    expect(await page.textContent("#signed-in-as")).toBe(`Signed in as ${keyPrefix(viewer)} · viewer · automotive`);
    await ready(page);
    const names = await scenarioNames();
    expect(names).toContain(road.scenarioName);
    expect(names).not.toContain(brain.scenarioName);

    await page.goto(gallery(jobHash(road)));
    await ready(page, "#/job/");
    await page.waitForSelector(`.card[data-sample="${road.samples[0]!.id}"] canvas[data-drawn="true"]`);
    // The medical job and sample, even by direct link, are not there for this key.
    for (const [hash, route] of [
      [jobHash(brain), "#/job/"],
      [sampleHash(brain), "#/sample/"],
    ] as const) {
      await page.goto(gallery(hash));
      await ready(page, route);
      expect(await page.textContent("#view .error")).toMatch(/not found/i);
      expect(await page.$("#samples .card")).toBeNull();
      expect(await page.$("#sample-canvas")).toBeNull();
    }
    const artifacts = artifactRequests();
    expect(artifacts.map((r) => new URL(r.url()).pathname)).toEqual([`/artifacts/${road.samples[0]!.sha256}`]);
    expect(new URL(artifacts[0]!.url()).searchParams.get("scopes")).toBe("AUTOMOTIVE");
    for (const width of await naturalWidths(artifacts.map((r) => r.url()))) expect(width).toBeGreaterThan(0);

    // The admin key, in the same tab, sees both.
    await signIn(page, api.service.url, api.adminKey);
    await ready(page);
    expect(await scenarioNames()).toEqual(expect.arrayContaining([road.scenarioName, brain.scenarioName]));
    await page.goto(gallery(jobHash(brain)));
    await ready(page, "#/job/");
    await page.waitForSelector(`.card[data-sample="${brain.samples[0]!.id}"] canvas[data-drawn="true"]`);
  });
});
