// The content-addressed artifact store: a local directory where each file is named by the sha256 of its
// bytes (<root>/<first two hex digits>/<sha256>). A file is written under a temporary name in the same
// directory tree and renamed into place, so a reader never sees half a file and two writers of the same
// content simply replace one complete copy with another.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

const SHA256 = /^[0-9a-f]{64}$/;
const TEMPORARY_DIR = "tmp";

export interface StoredArtifact {
  sha256: string;
  byteSize: number;
  path: string;
}

export function isSha256(value: string): boolean {
  return SHA256.test(value);
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export class ArtifactStore {
  constructor(readonly root: string) {}

  /** Where the file for a hash lives (whether or not it exists). */
  pathOf(sha256: string): string {
    if (!isSha256(sha256)) throw new RangeError(`not a sha256: ${sha256}`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Writes bytes under their sha256: temporary file first, then an atomic rename. */
  async put(bytes: Uint8Array): Promise<StoredArtifact> {
    const sha256 = sha256Of(bytes);
    const target = this.pathOf(sha256);
    const temporaryDir = path.join(this.root, TEMPORARY_DIR);
    await mkdir(path.dirname(target), { recursive: true });
    await mkdir(temporaryDir, { recursive: true });
    const temporary = path.join(temporaryDir, `${sha256}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { sha256, byteSize: bytes.byteLength, path: target };
  }

  /** Size of a stored file, or null when the store has no such hash. */
  async sizeOf(sha256: string): Promise<number | null> {
    if (!isSha256(sha256)) return null;
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch {
      return null;
    }
  }

  read(sha256: string): ReadStream {
    return createReadStream(this.pathOf(sha256));
  }

  /**
   * The whole file in memory (a DICOM to parse, a sample to decode; stream large files with read()), in a
   * buffer of its own (offset 0), as readers that view `.buffer` directly expect.
   */
  async readBytes(sha256: string): Promise<Buffer> {
    const bytes = await readFile(this.pathOf(sha256));
    return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes : Buffer.from(new Uint8Array(bytes).buffer);
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Every stored hash (temporary files excluded). */
  async list(): Promise<string[]> {
    const hashes: string[] = [];
    let prefixes: string[];
    try {
      prefixes = await readdir(this.root);
    } catch {
      return [];
    }
    for (const prefix of prefixes.filter((p) => /^[0-9a-f]{2}$/.test(p)).sort()) {
      for (const name of await readdir(path.join(this.root, prefix))) if (isSha256(name) && name.startsWith(prefix)) hashes.push(name);
    }
    return hashes;
  }

  /** Temporary files left by writers that died mid-write. */
  async temporaryFiles(): Promise<string[]> {
    try {
      return (await readdir(path.join(this.root, TEMPORARY_DIR))).map((name) => path.join(this.root, TEMPORARY_DIR, name));
    } catch {
      return [];
    }
  }

  /**
   * Removes temporary files older than `olderThanMs` (a live writer finishes in far less) and stored files
   * that `isReferenced` says no record points at and that are older than the same age, so a file written
   * moments ago by a worker that has not committed yet is left alone.
   */
  async sweep(isReferenced: (sha256: string) => Promise<boolean>, olderThanMs: number): Promise<{ temporary: number; unreferenced: number }> {
    const cutoff = Date.now() - olderThanMs;
    let temporary = 0;
    let unreferenced = 0;
    for (const file of await this.temporaryFiles()) {
      const info = await stat(file).catch(() => null);
      if (info && info.mtimeMs < cutoff) {
        await rm(file, { force: true });
        temporary++;
      }
    }
    for (const sha256 of await this.list()) {
      const info = await stat(this.pathOf(sha256)).catch(() => null);
      if (info && info.mtimeMs < cutoff && !(await isReferenced(sha256))) {
        await this.remove(sha256);
        unreferenced++;
      }
    }
    return { temporary, unreferenced };
  }
}

export function artifactStoreFromConfig(config: { dataDir: string }): ArtifactStore {
  return new ArtifactStore(path.join(config.dataDir, "artifacts"));
}
