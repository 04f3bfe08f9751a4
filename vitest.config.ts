import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql ships both CJS and ESM; make every importer (Pothos, yoga, tests) share one instance.
  resolve: { alias: { graphql: new URL("./node_modules/graphql/index.js", import.meta.url).pathname } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores here: PGlite and onnxruntime are CPU-heavy, so keep files from starving each other.
    maxWorkers: 2,
  },
});
