// The installed model packages, read from models/<name>/model.json (validated by the manifest schema), as far
// as scenario validation needs.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { modelManifestSchema, PACKAGE_NAME } from "../models/index.ts";
import type { ConditionLayout } from "./compatibility.ts";

export interface ModelCatalog {
  /** The condition layout of the named model, or undefined when no such package is installed. */
  layout(name: string): Promise<ConditionLayout | undefined>;
  names(): Promise<string[]>;
}

export function directoryModelCatalog(modelsDir: string): ModelCatalog {
  const cache = new Map<string, ConditionLayout | undefined>();
  const read = async (name: string) => {
    if (!PACKAGE_NAME.test(name)) return undefined;
    try {
      const parsed = modelManifestSchema.safeParse(JSON.parse(await readFile(path.join(modelsDir, name, "model.json"), "utf8")));
      if (!parsed.success) return undefined;
      const manifest = parsed.data;
      return { name: manifest.name, domain: manifest.domain, condition: manifest.condition, labels: manifest.labels };
    } catch {
      return undefined;
    }
  };
  return {
    async layout(name) {
      if (!cache.has(name)) cache.set(name, await read(name));
      return cache.get(name);
    },
    async names() {
      let entries: string[] = [];
      try {
        entries = (await readdir(modelsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        return [];
      }
      const found: string[] = [];
      for (const name of entries.sort()) if (await this.layout(name)) found.push(name);
      return found;
    },
  };
}
