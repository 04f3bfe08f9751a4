// A streamed zip (archiver) that takes one entry at a time: `add` resolves once the entry has gone through
// the archive, so at most one entry's data is held in memory, and a slow reader at the other end (an HTTP
// client) holds the writer back through stream back-pressure instead of letting entries pile up.
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZipArchive } from "archiver";

/** Entries smaller than this are stored, not deflated. */
const SMALL_ENTRY_BYTES = 1024;

/** The part of compress-commons' ZipArchiveOutputStream (archiver's zip engine) that `batchCentralDirectory` wraps. */
interface ZipEngine {
  offset: number;
  write(chunk: Buffer | string): boolean;
  _writeCentralFileHeader(entry: unknown): void;
  _writeCentralDirectoryZip64(): void;
  _writeCentralDirectoryEnd(): void;
}

/** Central-directory records are written in chunks of about this size. */
const CENTRAL_DIRECTORY_CHUNK_BYTES = 64 * 1024;

/**
 * At finalize, compress-commons writes the whole central directory in one synchronous loop, each entry's
 * record as 17 separate small writes. Behind a reader slower than that loop (any HTTP client) every one of
 * them waits in the stream buffers as its own chunk: measured, 228 MB of RSS at once for 40,000 entries (a
 * 20,000-sample YOLO export), growing with the entry count. Here the records are gathered and written in
 * 64 KiB chunks; the bytes are the same. The engine's `offset` is kept exact while records are held (`_finish`
 * reads it right after the loop), and what is held is written before the directory's end records.
 * archiver is pinned; without the expected engine the zip is written unchanged, only without this saving.
 */
function batchCentralDirectory(archive: ZipArchive): void {
  const engine = (archive as unknown as { _module?: { engine?: Partial<ZipEngine> } })._module?.engine;
  if (!engine) return;
  const { write, _writeCentralFileHeader: writeRecord, _writeCentralDirectoryZip64: writeZip64End, _writeCentralDirectoryEnd: writeEnd } = engine;
  if (typeof write !== "function" || typeof writeRecord !== "function" || typeof writeZip64End !== "function" || typeof writeEnd !== "function") return;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const flush = (stream: ZipEngine) => {
    if (heldBytes === 0) return;
    const chunk = Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    // `write` adds the chunk's length to `offset`, which already counts it.
    stream.offset -= chunk.length;
    write.call(stream, chunk);
  };
  engine._writeCentralFileHeader = function (this: ZipEngine, entry: unknown) {
    // ASCII names and comments come as strings, which the stream would encode as UTF-8 too.
    this.write = (part: Buffer | string) => {
      const bytes = typeof part === "string" ? Buffer.from(part, "utf8") : part;
      held.push(bytes);
      heldBytes += bytes.length;
      this.offset += bytes.length;
      return true;
    };
    try {
      writeRecord.call(this, entry);
    } finally {
      this.write = write;
    }
    if (heldBytes >= CENTRAL_DIRECTORY_CHUNK_BYTES) flush(this);
  };
  engine._writeCentralDirectoryZip64 = function (this: ZipEngine) {
    flush(this);
    writeZip64End.call(this);
  };
  engine._writeCentralDirectoryEnd = function (this: ZipEngine) {
    flush(this);
    writeEnd.call(this);
  };
}

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
    batchCentralDirectory(this.archive);
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
