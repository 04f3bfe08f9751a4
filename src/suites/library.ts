// Suites as YAML: the suites/ directory of the repository (one suite per file) and documents sent through
// the API or named on the command line. Alias expansion is bounded as for scenarios.
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import { MAX_YAML_ALIASES } from "../scenarios/index.ts";
import { parseSuiteSpec, type SuiteIssue, type SuiteSpec } from "./spec.ts";

/** A suite file is a few kilobytes; this refuses anything that is not one before reading it. */
export const MAX_SUITE_FILE_BYTES = 1 << 20;

export class SuiteLibraryError extends Error {
  override name = "SuiteLibraryError";
}

export function parseSuiteYaml(text: string): { ok: true; spec: SuiteSpec } | { ok: false; issues: SuiteIssue[] } {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) return { ok: false, issues: document.errors.map((e) => ({ path: "", message: `YAML: ${e.message}` })) };
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    return { ok: false, issues: [{ path: "", message: `YAML: ${error.message}` }] };
  }
  return parseSuiteSpec(data);
}

const describeIssues = (issues: SuiteIssue[]) => issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ");

/** Reads one suite file; a file too large, unreadable YAML or a bad field is an error naming the file and field. */
export async function loadSuiteFile(file: string): Promise<SuiteSpec> {
  const size = (await stat(file)).size;
  if (size > MAX_SUITE_FILE_BYTES) throw new SuiteLibraryError(`${file}: ${size} bytes; a suite file may have at most ${MAX_SUITE_FILE_BYTES}`);
  const result = parseSuiteYaml(await readFile(file, "utf8"));
  if (!result.ok) throw new SuiteLibraryError(`${file}: ${describeIssues(result.issues)}`);
  return result.spec;
}

/** Every *.yaml / *.yml suite under the directory (none when it does not exist); names must be unique. */
export async function loadSuiteLibrary(dir: string): Promise<Array<{ file: string; spec: SuiteSpec }>> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const entries = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const spec = await loadSuiteFile(path.join(dir, file));
    const other = seen.get(spec.name);
    if (other) throw new SuiteLibraryError(`suite "${spec.name}" is defined in both ${other} and ${file}`);
    seen.set(spec.name, file);
    entries.push({ file, spec });
  }
  return entries;
}
