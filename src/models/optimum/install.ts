// Installing a users' Optimum export as a package under the models directory (where every worker and the
// reproduction path find packages by name): the export is checked first (manifest, parts, scheduler config),
// every file hashed, then linked (or copied) into models/<name>/ beside a rareforge.json that lists the hashes.
// Nothing is left behind on a refusal: the package is assembled in a temporary directory and renamed into place.
import { randomUUID } from "node:crypto";
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { ModelPackageError } from "../errors.ts";
import { OPTIMUM_MANIFEST_FILE } from "./manifest.ts";
import { describeOptimumExport, exportFiles, parseOptimumManifest, readExportJson, resolveOptimumManifest } from "./package.ts";
import { sha256FileAsync } from "../package.ts";

export interface OptimumInstallRequest {
  /** The export directory: inside the models directory, relative to it or absolute. */
  path: string;
  modelsDir: string;
  /** rareforge.json's content; default: the rareforge.json already beside the export. */
  manifest?: unknown;
}

/** Where an export directory given by a caller lies; only directories inside the models directory are accepted. */
function exportDirOf(path: string, modelsDir: string): string {
  const root = resolve(modelsDir);
  const dir = resolve(root, path);
  const inside = relative(root, dir);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside))
    throw new ModelPackageError("not-found", `${path} is not a directory inside the models directory (${root}); put the export there first`, dir);
  return dir;
}

export interface InstalledExport {
  /** The package directory, models/<name>. */
  dir: string;
  name: string;
  /** Undoes the installation: removes a created package, or restores the rareforge.json an in-place registration replaced. */
  rollback(): Promise<void>;
}

/** Checks and installs an export (see the file comment). */
export async function installOptimumExport(request: OptimumInstallRequest): Promise<InstalledExport> {
  const source = exportDirOf(request.path, request.modelsDir);
  if (!(await stat(source).then((s) => s.isDirectory(), () => false))) throw new ModelPackageError("not-found", `no export directory at ${source}`, source);
  const parsed = parseOptimumManifest(source, request.manifest ?? (await readExportJson(source, OPTIMUM_MANIFEST_FILE)));
  const exported = await describeOptimumExport(source);
  const files = await exportFiles(source);
  const hashes: Record<string, string> = {};
  for (const file of files) hashes[file] = await sha256FileAsync(join(source, file));
  const manifest = resolveOptimumManifest(source, parsed, exported, hashes);
  const target = join(resolve(request.modelsDir), manifest.name);
  const written = JSON.stringify({ ...manifest, files: hashes }, null, 2) + "\n";
  const staging = join(resolve(request.modelsDir), `.installing-${manifest.name}-${randomUUID()}`);
  try {
    if (resolve(source) === target) {
      // in place: only rareforge.json changes, written whole then renamed over
      const manifestPath = join(target, OPTIMUM_MANIFEST_FILE);
      const previous = await readFile(manifestPath).catch(() => null);
      await writeFile(staging, written, { flag: "wx" });
      await rename(staging, manifestPath);
      const rollback = async () => {
        if (previous) await writeFile(manifestPath, previous);
        else await rm(manifestPath, { force: true });
      };
      return { dir: target, name: manifest.name, rollback };
    }
    if (await stat(target).then(() => true, () => false))
      throw new ModelPackageError("invalid-name", `a package named ${manifest.name} is already installed at ${target}; give the export another name or a new version under a new name`, target);
    for (const file of files) {
      const to = join(staging, file);
      await mkdir(dirname(to), { recursive: true });
      // a hard link costs no space for a multi-gigabyte UNet; across file systems, a copy
      await link(join(source, file), to).catch(() => copyFile(join(source, file), to));
    }
    await writeFile(join(staging, OPTIMUM_MANIFEST_FILE), written, { flag: "wx" });
    await rename(staging, target);
    return { dir: target, name: manifest.name, rollback: () => rm(target, { recursive: true, force: true }) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
