// Shared by the gallery's browser tests: Debian's chromium driven by playwright-core (headless), skipped, saying
// so, where /usr/bin/chromium is absent; signing in through the page's form; waiting for a page to be complete.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);
export const SKIPPED = `${CHROMIUM} is absent, so the gallery browser tests are skipped (apt-get install chromium; CI installs it from .ci/apt-packages.txt)`;
if (!hasChromium) console.warn(SKIPPED);

export interface GalleryBrowser {
  context: BrowserContext;
  /** What the gallery's Content-Security-Policy refused so far, in any tab (should stay empty). */
  cspViolations: string[];
  close(): Promise<void>;
}

/** A headless chromium with its own profile, removed on close. Page errors are logged, CSP refusals kept. */
export async function launchBrowser(): Promise<GalleryBrowser> {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1400, height: 1100 },
    deviceScaleFactor: 1,
  });
  const cspViolations: string[] = [];
  const watch = (page: Page) => {
    page.on("pageerror", (error) => console.error("page error:", error.message));
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) cspViolations.push(message.text());
    });
  };
  context.on("page", watch);
  for (const page of context.pages()) watch(page);
  return {
    context,
    cspViolations,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export type SessionState = "signed-in" | "signed-out";

/** Waits until the page has finished checking a key (on load or after the form was sent), and says how it went. */
export async function settledSession(page: Page): Promise<SessionState> {
  const state = await page.waitForFunction(() => (document.body.dataset.session !== "checking" ? document.body.dataset.session : false));
  return (await state.jsonValue()) as SessionState;
}

/** Types `key` into the sign-in form (which must be showing) and sends it; how it went. */
export async function submitKey(page: Page, key: string): Promise<SessionState> {
  await page.fill("#api-key", key);
  await page.click("#sign-in-submit");
  return settledSession(page);
}

/** Opens the gallery at `hash` in `page`, signed out first if it was signed in, and signs in with `key`. */
export async function signIn(page: Page, baseUrl: string, key: string, hash = ""): Promise<void> {
  await page.goto(`${baseUrl}/gallery/${hash}`);
  if ((await settledSession(page)) === "signed-in") {
    await page.click("#sign-out");
    await settledSession(page);
  }
  const state = await submitKey(page, key);
  if (state !== "signed-in") throw new Error(`sign-in refused: ${await page.textContent("#sign-in-error")}`);
}

/** Waits until the page shows the route it is on (its hash starting with `prefix`) completely. */
export const ready = (page: Page, prefix = "") =>
  page.waitForFunction((prefix) => {
    const view = document.getElementById("view")!;
    return view.dataset.ready === "true" && view.dataset.route === location.hash && location.hash.startsWith(prefix);
  }, prefix);

/** A Relay global id, as the gallery's links carry them. */
export const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");
