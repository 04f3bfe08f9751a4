// Loading a model package from disk: read the manifest, validate it, verify every declared file's sha256.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ModelPackageError } from "./errors.ts";
import { modelManifestSchema, PACKAGE_NAME, type ModelManifest } from "./manifest.ts";
import { OPTIMUM_MANIFEST_FILE, OPTIMUM_PARTS } from "./optimum/manifest.ts";
import { describeOptimumExport, exportFiles, manifestView, parseOptimumManifest, readExportJson, resolveOptimumManifest, type OptimumExport } from "./optimum/package.ts";

/** The two package kinds: condition-vector packages (model.json) and users' diffusers/Optimum exports (rareforge.json). */
export const MODEL_PACKAGE_KINDS = ["condition", "optimum"] as const;
export type ModelPackageKind = (typeof MODEL_PACKAGE_KINDS)[number];

export interface ModelPackage {
  readonly kind: ModelPackageKind;
  /** The export's parts and settings (kind "optimum"), else null. */
  readonly optimum: OptimumExport | null;
  /** Absolute directory of the package. */
  readonly dir: string;
  readonly manifest: ModelManifest;
  /** Absolute path of the denoiser ONNX file. */
  readonly denoiserPath: string;
  /** Absolute path of the latent decoder ONNX file, when the manifest has one. */
  readonly decoderPath: string | null;
  /** sha256 of each file, as verified at load. */
  readonly fileHashes: Readonly<Record<string, string>>;
  /** sha256 of model.json (or rareforge.json) itself (recorded; it may change under a version, e.g. its evaluation figures). */
  readonly manifestSha256: string;
}

/** Any package manifest (model.json, detector.json, critic.json) shares identity and `files`. */
export const packageIdentitySchema = z
  .object({
    schema: z.string().min(1),
    name: z.string().min(1),
    version: z.string().min(1),
    files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .passthrough();
export type PackageIdentity = z.infer<typeof packageIdentitySchema>;

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * sha256File without blocking the event loop: the file is read in chunks off the main thread and hashed
 * chunk by chunk, so a request that loads a package (a 12 MB denoiser) does not stall every other request.
 */
export async function sha256FileAsync(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function formatZodIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

function readManifestJson(dir: string, manifestFile: string): unknown {
  const path = join(dir, manifestFile);
  if (!existsSync(path)) throw new ModelPackageError("not-found", `no ${manifestFile} in ${dir}`, dir);
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ModelPackageError("invalid-manifest", `${path} is not valid JSON: ${(error as Error).message}`, dir);
  }
}

async function readManifestJsonAsync(dir: string, manifestFile: string): Promise<unknown> {
  const path = join(dir, manifestFile);
  if (!(await stat(path).then(() => true, () => false))) throw new ModelPackageError("not-found", `no ${manifestFile} in ${dir}`, dir);
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new ModelPackageError("invalid-manifest", `${path} is not valid JSON: ${(error as Error).message}`, dir);
  }
}

const hashMismatch = (dir: string, file: string, actual: string, expected: string) =>
  new ModelPackageError("hash-mismatch", `"${file}" in ${dir} has sha256 ${actual}, the manifest says ${expected} (file changed or corrupted)`, dir);
const missingFile = (dir: string, file: string) => new ModelPackageError("missing-file", `model package ${dir} declares "${file}" but it is missing`, dir);

/** verifyPackageFiles without blocking the event loop (the service's request paths use this one). */
export async function verifyPackageFilesAsync(dir: string, files: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  const verified: Record<string, string> = {};
  for (const [file, expected] of Object.entries(files)) {
    const path = join(dir, file);
    const stats = await stat(path).catch(() => null);
    if (!stats?.isFile()) throw missingFile(dir, file);
    const actual = await sha256FileAsync(path);
    if (actual !== expected) throw hashMismatch(dir, file, actual, expected);
    verified[file] = actual;
  }
  return verified;
}

/** Checks each declared file exists and matches its sha256; throws ModelPackageError naming the file otherwise. */
export function verifyPackageFiles(dir: string, files: Readonly<Record<string, string>>): Record<string, string> {
  const verified: Record<string, string> = {};
  for (const [file, expected] of Object.entries(files)) {
    const path = join(dir, file);
    if (!existsSync(path) || !statSync(path).isFile()) throw missingFile(dir, file);
    const actual = sha256File(path);
    if (actual !== expected) throw hashMismatch(dir, file, actual, expected);
    verified[file] = actual;
  }
  return verified;
}

/** model.json's content checked against the manifest schema. */
function parseModelManifest(dir: string, json: unknown): ModelManifest {
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) throw new ModelPackageError("invalid-manifest", `invalid model.json in ${dir}: ${formatZodIssues(parsed.error)}`, dir);
  return parsed.data;
}

function modelPackageOf(dir: string, manifest: ModelManifest, fileHashes: Record<string, string>, manifestSha256: string): ModelPackage {
  return {
    kind: "condition",
    optimum: null,
    dir,
    manifest,
    denoiserPath: join(dir, manifest.denoiser.file),
    decoderPath: manifest.latent ? join(dir, manifest.latent.decoder) : null,
    fileHashes,
    manifestSha256,
  };
}

/** Loads and verifies a diffusion model package (model.json). */
export function loadModelPackage(dir: string): ModelPackage {
  const absolute = resolve(dir);
  const manifest = parseModelManifest(absolute, readManifestJson(absolute, "model.json"));
  return modelPackageOf(absolute, manifest, verifyPackageFiles(absolute, manifest.files), sha256File(join(absolute, "model.json")));
}

/**
 * loadModelPackage without blocking the event loop: the same checks and errors, the manifest and every file
 * read asynchronously and the files hashed chunk by chunk. The service's request paths and its in-process
 * worker use this one; the CLI may use either.
 */
export async function loadModelPackageAsync(dir: string): Promise<ModelPackage> {
  const absolute = resolve(dir);
  if (await isOptimumExport(absolute)) return loadOptimumPackage(absolute);
  const manifest = parseModelManifest(absolute, await readManifestJsonAsync(absolute, "model.json"));
  return modelPackageOf(absolute, manifest, await verifyPackageFilesAsync(absolute, manifest.files), await sha256FileAsync(join(absolute, "model.json")));
}

/** Loads any package's identity (detector.json, critic.json, model.json) and verifies its files. */
export function loadPackageIdentity(dir: string, manifestFile: string): { identity: PackageIdentity; fileHashes: Record<string, string> } {
  const absolute = resolve(dir);
  const parsed = packageIdentitySchema.safeParse(readManifestJson(absolute, manifestFile));
  if (!parsed.success) {
    throw new ModelPackageError("invalid-manifest", `invalid ${manifestFile} in ${absolute}: ${formatZodIssues(parsed.error)}`, absolute);
  }
  return { identity: parsed.data, fileHashes: verifyPackageFiles(absolute, parsed.data.files) };
}

/**
 * The directory of the package called `name` under modelsRoot. Only package names are accepted (lowercase
 * letters, digits and dashes: no separator, no dot), so a name from a request cannot reach outside the
 * models directory; anything else is a ModelPackageError "invalid-name".
 */
export function resolveModelDir(name: string, modelsRoot = "models"): string {
  const root = resolve(modelsRoot);
  if (!PACKAGE_NAME.test(name)) {
    throw new ModelPackageError("invalid-name", `"${name}" is not a model package name (lowercase letters, digits and dashes, e.g. brain-mri)`, root);
  }
  return join(root, name);
}

/** A directory without model.json but with rareforge.json or model_index.json is an Optimum export. */
async function isOptimumExport(dir: string): Promise<boolean> {
  const has = (file: string) => stat(join(dir, file)).then((s) => s.isFile(), () => false);
  return !(await has("model.json")) && ((await has(OPTIMUM_MANIFEST_FILE)) || (await has(OPTIMUM_PARTS.modelIndex)));
}

/**
 * sha256 of every file of an export (but rareforge.json), without blocking the event loop. With `declared`
 * (rareforge.json's `files`), the export must hold exactly those files with those hashes.
 */
export async function hashExportFiles(dir: string, declared?: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  const files = await exportFiles(dir);
  if (declared) {
    const missing = Object.keys(declared).filter((file) => !files.includes(file));
    if (missing.length > 0) throw missingFile(dir, missing[0]!);
    const extra = files.filter((file) => !(file in declared));
    if (extra.length > 0) throw new ModelPackageError("undeclared-file", `${dir} holds ${extra.join(", ")}, which ${OPTIMUM_MANIFEST_FILE} does not list (a changed package needs a new registration)`, dir);
    return verifyPackageFilesAsync(dir, declared);
  }
  const hashes: Record<string, string> = {};
  for (const file of files) hashes[file] = await sha256FileAsync(join(dir, file));
  return hashes;
}

/** Loads an Optimum export with its rareforge.json: manifest checked, parts present, every file hashed (and verified). */
async function loadOptimumPackage(dir: string): Promise<ModelPackage> {
  if (!(await stat(join(dir, OPTIMUM_MANIFEST_FILE)).then(() => true, () => false)))
    throw new ModelPackageError(
      "not-found",
      `${dir} is an Optimum export without ${OPTIMUM_MANIFEST_FILE}: register it (registerModel with a manifest: name, version, domain, license, parameters, prompt template, image size)`,
      dir,
    );
  const parsed = parseOptimumManifest(dir, await readExportJson(dir, OPTIMUM_MANIFEST_FILE));
  const exported = await describeOptimumExport(dir);
  const fileHashes = await hashExportFiles(dir, parsed.files);
  const manifest = resolveOptimumManifest(dir, parsed, exported, fileHashes);
  return {
    kind: "optimum",
    optimum: { manifest, ...exported },
    dir,
    manifest: manifestView(manifest, exported, fileHashes),
    denoiserPath: exported.parts.unet,
    decoderPath: exported.parts.vaeDecoder,
    fileHashes,
    manifestSha256: await sha256FileAsync(join(dir, OPTIMUM_MANIFEST_FILE)),
  };
}
