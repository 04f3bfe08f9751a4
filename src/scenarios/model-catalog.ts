// The installed model packages, read from models/<name>/model.json or, for a users' Optimum export,
// models/<name>/rareforge.json (each validated by its schema), as far as scenario validation needs.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { modelManifestSchema, OPTIMUM_MANIFEST_FILE, optimumManifestSchema, PACKAGE_NAME } from "../models/index.ts";
import type { ConditionLayout } from "./compatibility.ts";

export interface ModelCatalog {
  /** The condition layout of the named model, or undefined when no such package is installed. */
  layout(name: string): Promise<ConditionLayout | undefined>;
  names(): Promise<string[]>;
}

export function directoryModelCatalog(modelsDir: string): ModelCatalog {
  const cache = new Map<string, ConditionLayout | undefined>();
  const readJson = async (name: string, file: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(path.join(modelsDir, name, file), "utf8"));
    } catch {
      return undefined;
    }
  };
  const read = async (name: string): Promise<ConditionLayout | undefined> => {
    if (!PACKAGE_NAME.test(name)) return undefined;
    const model = modelManifestSchema.safeParse(await readJson(name, "model.json"));
    if (model.success) return { name: model.data.name, domain: model.data.domain, condition: model.data.condition, labels: model.data.labels };
    // an Optimum export: its parameters are the layout (the prompt template uses them; checked by its schema)
    const optimum = optimumManifestSchema.safeParse(await readJson(name, OPTIMUM_MANIFEST_FILE));
    if (optimum.success) return { name: optimum.data.name ?? name, domain: optimum.data.domain, condition: { fields: optimum.data.parameters }, labels: optimum.data.labels, textConditioned: true };
    return undefined;
  };
  return {
    async layout(name) {
      // a package registered later is found: only found layouts are cached
      if (!cache.has(name)) {
        const layout = await read(name);
        if (!layout) return undefined;
        cache.set(name, layout);
      }
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
