// loadModelPackageAsync (the service's request paths and its worker): the same package and the same
// refusals as loadModelPackage, without hashing the files on the event loop.
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadModelPackage, loadModelPackageAsync, ModelPackageError, sha256File, sha256FileAsync } from "../../src/models/index.ts";

const TINY = fileURLToPath(new URL("../fixtures/tiny-model", import.meta.url));

describe("loadModelPackageAsync", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "rareforge-load-async-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("loads the same package as loadModelPackage", async () => {
    expect(await loadModelPackageAsync(TINY)).toEqual(loadModelPackage(TINY));
    expect(await sha256FileAsync(path.join(TINY, "model.json"))).toBe(sha256File(path.join(TINY, "model.json")));
  });

  it("refuses a changed file, a missing file and a missing manifest with the same errors", async () => {
    const copy = (name: string) => {
      const dir = path.join(root, name);
      cpSync(TINY, dir, { recursive: true, filter: (source) => !source.includes(`${path.sep}latent`) });
      return dir;
    };
    const changed = copy("changed");
    const manifest = loadModelPackage(TINY).manifest;
    appendFileSync(path.join(changed, manifest.denoiser.file), Buffer.from([0]));
    const missing = copy("missing");
    rmSync(path.join(missing, manifest.denoiser.file));
    const empty = path.join(root, "empty");
    for (const [dir, code] of [[changed, "hash-mismatch"], [missing, "missing-file"], [empty, "not-found"]] as const) {
      const sync = (() => {
        try {
          loadModelPackage(dir);
        } catch (error) {
          return error;
        }
      })();
      const async = await loadModelPackageAsync(dir).catch((error: unknown) => error);
      expect(async).toBeInstanceOf(ModelPackageError);
      expect({ code: (async as ModelPackageError).code, message: (async as Error).message }).toEqual({ code, message: (sync as Error).message });
    }
  });
});
