// Reading detector files without trusting the path. A user's export is read only from the detectors
// directory (the path resolved, symlinks included, then checked to lie inside it), only when it is a
// regular file no larger than the limit, and asynchronously: a FIFO, a device or a huge sparse file never
// reaches a read, and nothing blocks the event loop. One refusal covers "absent", "outside the directory"
// and "not a regular file", so a request learns nothing about paths outside the directory.
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { readRegularFile } from "../bounded-file.ts";
import { DEFAULT_MAX_DETECTOR_BYTES, type Config } from "../config.ts";
import { DetectorPackageError } from "./errors.ts";

/** Where detector files may be read from, and how large one may be. */
export interface DetectorFiles {
  /** Shipped detector and critic packages. */
  readonly modelsDir: string;
  /** The only directory exports registered by path are read from (RAREFORGE_DETECTORS_DIR). */
  readonly detectorsDir: string;
  /** Largest ONNX file read, in bytes (RAREFORGE_MAX_DETECTOR_BYTES). */
  readonly maxBytes: number;
}

export function detectorFilesOf(config: Pick<Config, "modelsDir" | "detectorsDir" | "maxDetectorBytes">): DetectorFiles {
  return { modelsDir: config.modelsDir, detectorsDir: config.detectorsDir, maxBytes: config.maxDetectorBytes };
}

/** The one refusal for an export path that is absent, outside the detectors directory or not a regular file. */
function unusableExport(given: string): DetectorPackageError {
  return new DetectorPackageError(
    "not-found",
    `no usable detector file "${given}" in the detectors directory (RAREFORGE_DETECTORS_DIR): give the path of a regular ONNX file inside it`,
  );
}

/**
 * An export's path as given (relative to the detectors directory, or absolute) -> its real path, when
 * that is a regular file inside the directory; otherwise the one refusal above.
 */
export async function resolveDetectorExport(given: string, detectorsDir: string): Promise<{ path: string; relativePath: string }> {
  let dir: string;
  let real: string;
  try {
    dir = await realpath(detectorsDir);
    real = await realpath(resolve(dir, given));
  } catch {
    throw unusableExport(given);
  }
  const inside = relative(dir, real);
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) throw unusableExport(given);
  const stats = await stat(real).catch(() => null);
  if (!stats?.isFile()) throw unusableExport(given);
  return { path: real, relativePath: inside };
}

/**
 * A regular file's bytes, refused (code `too-large`) above maxBytes before anything is read. Opened
 * non-blocking, so a FIFO put in its place returns at once and is refused by fstat instead of hanging.
 */
export function readDetectorFile(path: string, maxBytes = DEFAULT_MAX_DETECTOR_BYTES): Promise<Uint8Array> {
  return readRegularFile(path, maxBytes, (refusal) => {
    if (refusal.kind === "absent") return new DetectorPackageError("not-found", `no detector file at ${path}`, path);
    if (refusal.kind === "not-a-file") return new DetectorPackageError("not-found", `${path} is not a regular file`, path);
    return new DetectorPackageError("too-large", `${path} has ${refusal.size} bytes; the limit for a detector file is ${maxBytes} (RAREFORGE_MAX_DETECTOR_BYTES)`, path);
  });
}
