// bench/export/zip-finalize: what finishing a zip of many entries costs in memory behind a slow reader, for
// the export's ZipWriter and for archiver on its own (same entries, same options, so the same bytes).
//
//   node --import tsx --expose-gc bench/export/zip-finalize.ts zipwriter [entries/2 = 20000]
//   node --import tsx --expose-gc bench/export/zip-finalize.ts archiver [20000]
//
// Writes N image-sized stored entries and N label-sized ones into a reader that takes each chunk on the next
// tick (as a socket does), then measures from a forced GC just before finishing: the kernel's peak RSS of this
// process during finalize (VmHWM, reset through /proc/self/clear_refs; Linux) and the chunks the reader got.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZipArchive } from "archiver";
import { ZipWriter } from "../../src/export/zip.ts";

const [mode = "zipwriter", countText = "20000"] = process.argv.slice(2);
if (mode !== "zipwriter" && mode !== "archiver") throw new Error(`unknown mode "${mode}"; allowed: zipwriter, archiver`);
const count = Number(countText);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const DATE = new Date("2026-01-01T00:00:00Z");
const peakRss = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;

const hash = createHash("sha256");
let finalizing = false;
let chunksAfterFinalize = 0;
const reader = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    hash.update(chunk);
    if (finalizing) chunksAfterFinalize++;
    process.nextTick(callback);
  },
});
const name = (i: number) => String(i).padStart(36, "0");
const image = (i: number) => Buffer.alloc(860, i % 251);
const label = (i: number) => Buffer.from(`0 0.5 0.5 0.1 ${i}\n`);

let finish: () => Promise<unknown>;
if (mode === "zipwriter") {
  const zip = new ZipWriter(reader, DATE);
  for (let i = 0; i < count; i++) {
    await zip.add(`images/train/${name(i)}.png`, image(i), { store: true });
    await zip.add(`labels/train/${name(i)}.txt`, label(i));
  }
  finish = () => zip.finish();
} else {
  const archive = new ZipArchive({ zlib: { level: 6 } });
  const piped = pipeline(archive, reader);
  for (let i = 0; i < count; i++) {
    archive.append(image(i), { name: `images/train/${name(i)}.png`, date: DATE, store: true });
    archive.append(label(i), { name: `labels/train/${name(i)}.txt`, date: DATE, store: true });
  }
  // archiver queues the appends; let them drain into the reader before finishing.
  await new Promise<void>((resolve) => archive.on("progress", (p) => p.entries.processed === 2 * count && resolve()));
  finish = async () => {
    await archive.finalize();
    await piped;
  };
}
await new Promise((resolve) => setImmediate(resolve));
gc();
const before = process.memoryUsage().rss;
writeFileSync("/proc/self/clear_refs", "5");
finalizing = true;
await finish();
const MB = 1024 * 1024;
console.log(
  JSON.stringify({
    mode,
    entries: 2 * count,
    sha256: hash.digest("hex"),
    rssBeforeMB: Math.round((before / MB) * 10) / 10,
    rssGrowthAtFinalizeMB: Math.round(((peakRss() - before) / MB) * 10) / 10,
    chunksAfterFinalize,
    loadAverage: readFileSync("/proc/loadavg", "utf8").trim(),
  }),
);
