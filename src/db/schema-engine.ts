// Loads Prisma's schema engine compiled to WebAssembly, so new migrations can be created without
// the native schema-engine binary (which `prisma migrate` would try to download). The package's own
// entry uses an ESM WebAssembly import that Node 20 cannot load, so we instantiate it here.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { bindMigrationAwareSqlAdapterFactory, type SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PROJECT_ROOT } from "./paths.ts";

export interface SchemaEngineHandle {
  diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}

interface SchemaEngineGlue {
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
  SchemaEngine: {
    new: (options: { datamodels: [string, string][] | undefined }, log: (message: string) => void, adapter: object) => Promise<SchemaEngineHandle>;
  };
}

export async function openSchemaEngine(
  datamodels: [string, string][],
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  log: (message: string) => void = () => {},
): Promise<SchemaEngineHandle> {
  // The package exports no subpaths, so its files are found from the project root.
  const packageDir = path.join(PROJECT_ROOT, "node_modules", "@prisma", "schema-engine-wasm");
  const gluePath = path.join(packageDir, "schema_engine_bg.js");
  const glue = (await import(pathToFileURL(gluePath).href)) as SchemaEngineGlue & Record<string, unknown>;
  const wasmBytes = await readFile(path.join(packageDir, "schema_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(wasmBytes, { "./schema_engine_bg.js": glue as WebAssembly.ModuleImports });
  glue.__wbg_set_wasm(instance.exports);
  const start = instance.exports.__wbindgen_start;
  if (typeof start === "function") start();
  // The engine expects the error-capturing wrapper that Prisma's CLI puts around driver adapters.
  return glue.SchemaEngine.new({ datamodels }, log, bindMigrationAwareSqlAdapterFactory(adapterFactory));
}
