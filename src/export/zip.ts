// A streamed zip (archiver) that takes one entry at a time: `add` resolves once the entry has gone through
// the archive, so at most one entry's data is held in memory, and a slow reader at the other end (an HTTP
// client) holds the writer back through stream back-pressure instead of letting entries pile up.
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZipArchive } from "archiver";

/** Entries smaller than this are stored, not deflated. */
const SMALL_ENTRY_BYTES = 1024;

export interface ZipEntryOptions {
  /** Store without compression (PNG and other already-compressed files). */
  store?: boolean;
}

export class ZipWriter {
  private readonly archive: ZipArchive;
  private readonly piped: Promise<void>;
  private pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private failure: Error | undefined;

  /** Every entry carries `date`, so the same export gives the same bytes. */
  constructor(
    output: Writable,
    private readonly date: Date,
  ) {
    this.archive = new ZipArchive({ zlib: { level: 6 } });
    this.archive.on("entry", () => this.pending.shift()?.resolve());
    this.archive.on("warning", (error) => this.fail(error));
    this.archive.on("error", (error) => this.fail(error));
    this.piped = pipeline(this.archive, output);
    this.piped.catch((error: Error) => this.fail(error));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
  }

  async add(name: string, source: Buffer | string | Readable, options: ZipEntryOptions = {}): Promise<void> {
    if (this.failure) throw this.failure;
    const data = typeof source === "string" ? Buffer.from(source, "utf8") : source;
    // Deflating a few bytes saves nothing, and each deflated entry costs a zlib stream whose native memory
    // (a few hundred KB) lasts until the next GC: a YOLO export's label files are stored as they are.
    const store = options.store || (Buffer.isBuffer(data) && data.length < SMALL_ENTRY_BYTES);
    const done = new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
    this.archive.append(data, { name, date: this.date, ...(store ? { store: true } : {}) });
    await done;
  }

  /** An empty directory entry, so a split without samples still exists in the layout. */
  async directory(name: string): Promise<void> {
    if (this.failure) throw this.failure;
    const done = new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
    this.archive.append(null as unknown as Buffer, { name: name.endsWith("/") ? name : `${name}/`, type: "directory", date: this.date });
    await done;
  }

  /** Bytes of zip produced so far. */
  get bytes(): number {
    return this.archive.pointer();
  }

  /** Writes the central directory and waits until the output has taken every byte. */
  async finish(): Promise<number> {
    if (this.failure) throw this.failure;
    await this.archive.finalize();
    await this.piped;
    if (this.failure) throw this.failure;
    return this.archive.pointer();
  }

  abort(): void {
    this.archive.abort();
  }
}
