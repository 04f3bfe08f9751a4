// The content-addressed artifact store: files named by their sha256, written whole (temporary name, then
// rename), idempotent for equal content, and swept of temporary and unreferenced files past an age.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArtifactStore, isSha256 } from "../../src/storage/index.ts";

describe("ArtifactStore", () => {
  let root: string;
  let store: ArtifactStore;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "rareforge-store-"));
    store = new ArtifactStore(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("stores bytes under their sha256 and leaves no temporary file", async () => {
    const bytes = new TextEncoder().encode("a synthetic deer on a bridge");
    const stored = await store.put(bytes);
    expect(stored.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(stored.path).toBe(path.join(root, stored.sha256.slice(0, 2), stored.sha256));
    expect(readFileSync(stored.path)).toEqual(Buffer.from(bytes));
    expect(await store.sizeOf(stored.sha256)).toBe(bytes.byteLength);
    expect(await store.list()).toEqual([stored.sha256]);
    expect(await store.temporaryFiles()).toEqual([]);
  });

  it("reads a stored file back whole, in a buffer of its own", async () => {
    const bytes = new TextEncoder().encode("a small file, the kind a pooled buffer would hold");
    const { sha256 } = await store.put(bytes);
    const read = await store.readBytes(sha256);
    expect(read).toEqual(Buffer.from(bytes));
    // readers (DICOM) view `.buffer` directly: it must be exactly these bytes
    expect(read.byteOffset).toBe(0);
    expect(read.buffer.byteLength).toBe(bytes.byteLength);
    await expect(store.readBytes("0".repeat(64))).rejects.toThrow(/ENOENT/);
  });

  it("writing the same content twice (two workers redoing one sample) keeps one complete file", async () => {
    const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
    const [a, b] = await Promise.all([store.put(bytes), store.put(bytes)]);
    expect(a.sha256).toBe(b.sha256);
    expect(await store.list()).toEqual([a.sha256]);
    expect(readFileSync(a.path)).toEqual(Buffer.from(bytes));
  });

  it("answers null for unknown or malformed hashes", async () => {
    expect(await store.sizeOf("0".repeat(64))).toBeNull();
    expect(await store.sizeOf("../../etc/passwd")).toBeNull();
    expect(isSha256("A".repeat(64))).toBe(false);
    expect(() => store.pathOf("../x")).toThrow(RangeError);
  });

  it("sweeps old temporary files and old unreferenced files, and keeps referenced or recent ones", async () => {
    const referenced = await store.put(new TextEncoder().encode("kept: a record points at it"));
    const orphan = await store.put(new TextEncoder().encode("orphan: written, never committed"));
    const recent = await store.put(new TextEncoder().encode("recent: its writer may be about to commit"));
    mkdirSync(path.join(root, "tmp"), { recursive: true });
    const leftover = path.join(root, "tmp", "dead.123.abc.tmp");
    writeFileSync(leftover, "half a file");
    const old = new Date(Date.now() - 3_600_000);
    for (const file of [referenced.path, orphan.path, leftover]) utimesSync(file, old, old);
    const outcome = await store.sweep(async (sha256) => sha256 === referenced.sha256, 60_000);
    expect(outcome).toEqual({ temporary: 1, unreferenced: 1 });
    expect((await store.list()).sort()).toEqual([referenced.sha256, recent.sha256].sort());
    expect(await store.temporaryFiles()).toEqual([]);
  });
});
