// The YAML scenario library (scenarios/*.yaml) and YAML documents sent through the API.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments, type Document } from "yaml";
import { parseScenarioSpec, type ScenarioSpec, type SpecIssue } from "./spec.ts";

export interface LibraryEntry {
  file: string;
  spec: ScenarioSpec;
}

export type YamlParseResult = { ok: true; specs: ScenarioSpec[] } | { ok: false; issues: SpecIssue[] };

/**
 * Aliases one document may expand. A scenario needs none; the bound refuses "billion laughs" documents,
 * whose few kilobytes of nested aliases expand to gigabytes.
 */
export const MAX_YAML_ALIASES = 50;

/** The document as plain data, or why its aliases cannot be expanded (too many, or one naming no anchor). */
function documentData(document: Document.Parsed): { ok: true; data: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, data: document.toJS({ maxAliasCount: MAX_YAML_ALIASES }) };
  } catch (error) {
    // yaml throws ReferenceErrors while resolving aliases: "Excessive alias count …" past maxAliasCount.
    if (!(error instanceof ReferenceError)) throw error;
    const excessive = error.message.startsWith("Excessive alias count");
    return { ok: false, message: excessive ? `YAML: the document expands more than ${MAX_YAML_ALIASES} aliases` : `YAML: ${error.message}` };
  }
}

/** Parses one or more YAML documents (separated by `---`) into validated specs; all or nothing. */
export function parseScenarioYaml(text: string): YamlParseResult {
  const documents = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(documents) ? documents : [documents];
  const issues: SpecIssue[] = [];
  const specs: ScenarioSpec[] = [];
  list.forEach((document, i) => {
    const prefix = list.length > 1 ? `[${i}]` : "";
    for (const error of document.errors) issues.push({ path: prefix, message: `YAML: ${error.message}` });
    if (document.errors.length > 0) return;
    const data = documentData(document);
    if (!data.ok) return void issues.push({ path: prefix, message: data.message });
    const result = parseScenarioSpec(data.data);
    if (result.ok) specs.push(result.spec);
    else issues.push(...result.issues.map((issue) => ({ path: [prefix, issue.path].filter(Boolean).join("."), message: issue.message })));
  });
  if (specs.length === 0 && issues.length === 0) issues.push({ path: "", message: "no scenario in the document" });
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) issues.push({ path: "name", message: `scenario "${spec.name}" appears twice` });
    names.add(spec.name);
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, specs };
}

export class LibraryError extends Error {
  override name = "LibraryError";
}

/** Reads every *.yaml / *.yml under the directory; a bad file is an error naming the file and field. */
export async function loadScenarioLibrary(dir: string): Promise<LibraryEntry[]> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const entries: LibraryEntry[] = [];
  for (const file of files) {
    const result = parseScenarioYaml(await readFile(path.join(dir, file), "utf8"));
    if (!result.ok) throw new LibraryError(`${file}: ${result.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
    for (const spec of result.specs) entries.push({ file, spec });
  }
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const other = seen.get(entry.spec.name);
    if (other) throw new LibraryError(`scenario "${entry.spec.name}" is defined in both ${other} and ${entry.file}`);
    seen.set(entry.spec.name, entry.file);
  }
  return entries;
}

/** Loads a scenario by library name or from a YAML file path (the CLI's `--scenario`). */
export async function loadScenarioFile(file: string): Promise<ScenarioSpec> {
  const result = parseScenarioYaml(await readFile(file, "utf8"));
  if (!result.ok) throw new LibraryError(`${file}: ${result.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
  if (result.specs.length !== 1) throw new LibraryError(`${file}: expected exactly one scenario, found ${result.specs.length}`);
  return result.specs[0] as ScenarioSpec;
}

export async function findLibraryScenario(dir: string, name: string): Promise<ScenarioSpec> {
  const entry = (await loadScenarioLibrary(dir)).find((e) => e.spec.name === name);
  if (!entry) throw new LibraryError(`no scenario named "${name}" in ${dir}`);
  return entry.spec;
}
