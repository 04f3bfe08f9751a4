// The dependency rules (.dependency-cruiser.cjs, run by `npm test` over src/) as specifications: a small
// tree that breaks each rule is refused with the rule's name, and the same tree without the breaks passes.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");
const dirs: string[] = [];

/** A throwaway project with these files under src/, checked with the repository's rules. */
function cruise(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "rareforge-deps-"));
  dirs.push(dir);
  cpSync(join(ROOT, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true }, include: ["src"] }));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, "src", file)), { recursive: true });
    writeFileSync(join(dir, "src", file), text);
  }
  const result = spawnSync(DEPCRUISE, ["src", "--config", ".dependency-cruiser.cjs", "--output-type", "err"], { cwd: dir, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const clean = {
  "jobs/index.ts": 'export { runJob } from "./service.ts";\n',
  "jobs/service.ts": 'import { sample } from "../diffusion/index.ts";\nexport const runJob = () => sample();\n',
  "diffusion/index.ts": 'export { sample } from "./pipeline.ts";\n',
  "diffusion/pipeline.ts": 'import { decode } from "../imaging/index.ts";\nexport const sample = () => decode();\n',
  "imaging/index.ts": 'export { decode } from "./decode.ts";\n',
  "imaging/decode.ts": "export const decode = () => 1;\n",
};

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("dependency rules", () => {
  it("a tree that follows the layers passes", () => {
    const result = cruise(clean);
    expect(result.output).toMatch(/no dependency violations found/);
    expect(result.status).toBe(0);
  });

  it("an engine importing a service, a private module of another folder, and a cycle are refused by name", () => {
    const result = cruise({
      ...clean,
      "diffusion/pipeline.ts": 'import { decode } from "../imaging/decode.ts";\nimport { runJob } from "../jobs/index.ts";\nexport const sample = () => decode() + Number(Boolean(runJob));\n',
    });
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/engines-below-services: src\/diffusion\/pipeline\.ts → src\/jobs\/index\.ts/);
    expect(result.output).toMatch(/through-the-index: src\/diffusion\/pipeline\.ts → src\/imaging\/decode\.ts/);
    expect(result.output).toMatch(/no-circular/);
  });

  it("the database outside services, onnxruntime outside runtime/, and GraphQL importing the CLI are refused", () => {
    const result = cruise({
      ...clean,
      "db/index.ts": "export const db = {};\n",
      "imaging/decode.ts": 'import { db } from "../db/index.ts";\nimport * as ort from "onnxruntime-node";\nexport const decode = () => Number(Boolean(db && ort));\n',
      "commands/index.ts": "export const command = 1;\n",
      "graphql/index.ts": 'import { command } from "../commands/index.ts";\nexport const schema = command;\n',
    });
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/database-only-in-services: src\/imaging\/decode\.ts → src\/db\/index\.ts/);
    expect(result.output).toMatch(/one-module-imports-onnxruntime: src\/imaging\/decode\.ts → onnxruntime-node/);
    expect(result.output).toMatch(/graphql-and-cli-are-peers: src\/graphql\/index\.ts → src\/commands\/index\.ts/);
  });
});
