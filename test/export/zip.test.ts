// The export's zip writer: the same bytes archiver writes on its own, readable by another implementation
// (fflate), and a central directory that reaches a slow reader in a few large chunks rather than as 17 small
// writes per entry held in memory at once.
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZipArchive } from "archiver";
import { strFromU8, unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { ZipWriter } from "../../src/export/zip.ts";

const DATE = new Date("2026-01-02T03:04:05Z");
const ENTRIES = 1500;
const image = (i: number) => Buffer.alloc(300 + (i % 7), i % 251);
const label = (i: number) => `0 0.5 0.5 0.1 ${i}\n`;

/** A reader that takes each chunk on a later tick, as a socket does: writes made in one loop wait in buffers. */
function slowReader() {
  const chunks: Buffer[] = [];
  let finalizing = false;
  let chunksAfterFinalize = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      if (finalizing) chunksAfterFinalize++;
      process.nextTick(callback);
    },
  });
  return {
    stream,
    startFinalize: () => (finalizing = true),
    bytes: () => Buffer.concat(chunks),
    chunksAfterFinalize: () => chunksAfterFinalize,
  };
}

describe("ZipWriter", () => {
  it("writes what archiver alone writes, and another reader unzips every entry", async () => {
    const reader = slowReader();
    const zip = new ZipWriter(reader.stream, DATE);
    for (let i = 0; i < ENTRIES; i++) {
      await zip.add(`images/train/${i}.png`, image(i), { store: true });
      await zip.add(`labels/train/${i}.txt`, label(i));
    }
    await zip.add("export.json", JSON.stringify({ text: "x".repeat(4000) }));
    await zip.finish();

    // archiver on its own, with the options ZipWriter gives each entry (small ones stored).
    const plain = slowReader();
    const archive = new ZipArchive({ zlib: { level: 6 } });
    const piped = pipeline(archive, plain.stream);
    for (let i = 0; i < ENTRIES; i++) {
      archive.append(image(i), { name: `images/train/${i}.png`, date: DATE, store: true });
      archive.append(Buffer.from(label(i)), { name: `labels/train/${i}.txt`, date: DATE, store: true });
    }
    archive.append(Buffer.from(JSON.stringify({ text: "x".repeat(4000) })), { name: "export.json", date: DATE });
    await archive.finalize();
    await piped;

    const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
    expect(sha(reader.bytes())).toBe(sha(plain.bytes()));

    const files = unzipSync(new Uint8Array(reader.bytes()));
    expect(Object.keys(files)).toHaveLength(2 * ENTRIES + 1);
    for (const i of [0, 1, 777, ENTRIES - 1]) {
      expect(Buffer.from(files[`images/train/${i}.png`]!).equals(image(i))).toBe(true);
      expect(strFromU8(files[`labels/train/${i}.txt`]!)).toBe(label(i));
    }
    expect(JSON.parse(strFromU8(files["export.json"]!)).text).toHaveLength(4000);
  });

  it("hands the central directory to a slow reader in a few large chunks", async () => {
    const reader = slowReader();
    const zip = new ZipWriter(reader.stream, DATE);
    for (let i = 0; i < ENTRIES; i++) await zip.add(`labels/train/${i}.txt`, label(i));
    // Let the entries' own chunks drain first, so what follows is the directory (and the end records).
    await new Promise((resolve) => setImmediate(resolve));
    reader.startFinalize();
    await zip.finish();
    // 1,500 records of about 75 bytes: two 64 KiB chunks or so, where archiver alone makes 17 per record.
    expect(reader.chunksAfterFinalize()).toBeGreaterThan(0);
    expect(reader.chunksAfterFinalize()).toBeLessThan(20);
    expect(Object.keys(unzipSync(new Uint8Array(reader.bytes())))).toHaveLength(ENTRIES);
  });
});
