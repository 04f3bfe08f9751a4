import { readFileSync } from "node:fs";

const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/** The RareForge version recorded in every provenance record. */
export const RAREFORGE_VERSION: string = packageJson.version;
