// `rareforge pacs` against a real Orthanc (the service's behaviour is round-trip.test.ts's): search and
// import print JSON, exit 0 and are audited as the CLI's; a send with nothing to send, an unknown endpoint
// and a configuration whose secret variable is unset exit 2 with a message that names the problem and never
// the secret. Each command is a process of its own (seconds each on a loaded machine): generous timeouts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dicomParser from "dicom-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSharedDicom, sharedDicomAvailable } from "../imaging/helpers/shared-dicom.ts";
import { ORTHANC_PASSWORD, ORTHANC_USER, orthancAvailable, OrthancServer } from "./helpers/orthanc.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

describe.skipIf(!orthancAvailable || !sharedDicomAvailable)("rareforge pacs", () => {
  let orthanc: OrthancServer;
  let dataDir: string;
  const studyUid = () => dicomParser.parseDicom(readSharedDicom("CT_small.dcm")).string("x0020000d")!;

  beforeAll(async () => {
    orthanc = await OrthancServer.start();
    await orthanc.upload(readSharedDicom("CT_small.dcm"));
    dataDir = mkdtempSync(path.join(os.tmpdir(), "rareforge-pacs-cli-"));
  }, 60_000);
  afterAll(async () => {
    await orthanc?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string | undefined> = {}) => {
    const endpoints = JSON.stringify([{ name: "orthanc", url: orthanc.dicomWebUrl, auth: { kind: "basic", username: ORTHANC_USER, passwordEnv: "ORTHANC_TEST_PASSWORD" } }]);
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "pacs", ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, RAREFORGE_PACS_ENDPOINTS: endpoints, ORTHANC_TEST_PASSWORD: ORTHANC_PASSWORD, LOG_LEVEL: "silent", ...env },
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it("searches, imports (once) and refuses what it cannot do with exit code 2", () => {
    const search = run(["search", "orthanc"]);
    expect(search.code).toBe(0);
    expect((JSON.parse(search.stdout) as { "0020000D": { Value: string[] } }[]).map((s) => s["0020000D"].Value[0])).toEqual([studyUid()]);

    const imported = run(["import", "orthanc", studyUid()]);
    expect(imported.code).toBe(0);
    expect((JSON.parse(imported.stdout) as { instances: { status: string }[] }).instances.map((i) => i.status)).toEqual(["IMPORTED"]);

    const audit = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "audit", "--operation", "importFromPacs", "--json"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, RAREFORGE_DATA_DIR: dataDir, LOG_LEVEL: "silent" } });
    const entries = audit.stdout.trim().split("\n").map((line) => JSON.parse(line) as { operation: string; outcome: string; domain: string; targetIds: string[] });
    expect(entries.map((e) => [e.operation, e.outcome, e.domain])).toEqual([["importFromPacs", "OK", "MEDICAL"]]);
    expect(entries[0]?.targetIds).toEqual([(JSON.parse(imported.stdout) as { instances: { referenceScanId: string }[] }).instances[0]?.referenceScanId]);

    const unknown = run(["import", "elsewhere", studyUid()]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/PacsError: no PACS endpoint "elsewhere" is configured \(known: orthanc\)/);

    const nothing = run(["send", "orthanc", "--insertion", "00000000-0000-4000-8000-000000000000"]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/NotFoundError: pathology insertion .* not found/);
  }, 400_000);

  it("names the unset secret variable without printing any secret", () => {
    const result = run(["search", "orthanc"], { ORTHANC_TEST_PASSWORD: undefined });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/environment variable ORTHANC_TEST_PASSWORD is not set/);
    expect(result.stderr).not.toContain(ORTHANC_PASSWORD);
  }, 60_000);

  it("refuses wrong credentials as UNAUTHORIZED", () => {
    const result = run(["search", "orthanc"], { ORTHANC_TEST_PASSWORD: "wrong" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PacsError: orthanc: search answered HTTP 401/);
  }, 60_000);
});
