// Reading a file whose path is not trusted, whole, with its size checked first. The file is opened non-blocking
// and checked on the open handle, so a FIFO or a device put in its place returns at once and is refused instead of
// hanging, and a file swapped after a stat cannot overrun the limit. The caller turns a refusal into its own error.
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

export type FileRefusal = { kind: "absent" } | { kind: "not-a-file" } | { kind: "too-large"; size: number };

/** A regular file's bytes, refused before anything is read when absent, not a regular file, or over maxBytes. */
export async function readRegularFile(path: string, maxBytes: number, refuse: (refusal: FileRefusal) => Error): Promise<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    throw refuse({ kind: "absent" });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refuse({ kind: "not-a-file" });
    if (info.size > maxBytes) throw refuse({ kind: "too-large", size: info.size });
    const bytes = new Uint8Array(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === bytes.length ? bytes : bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
