// Installing a tiny Optimum export as a user would: the export directory copied unchanged under a models
// directory, with a rareforge.json beside it (the fixtures themselves carry none).
import { cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OptimumManifestInput } from "../../../src/models/index.ts";
import { OPTIMUM_FIXTURES, type TinyExport } from "./golden.ts";

/** The road vocabulary the golden prompts come from ("dashcam photo, a pedestrian on the road at night, rain"). */
export function roadManifest(name: string, overrides: Partial<OptimumManifestInput> = {}): OptimumManifestInput {
  return {
    schema: "rareforge.optimum/1",
    name,
    version: "0.1.0",
    domain: "automotive",
    license: "Apache-2.0",
    image: { width: 64, height: 64 },
    prompt: { template: "dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}", negative: "blurry, low quality, cartoon, watermark" },
    parameters: [
      { name: "hazard", kind: "categorical", values: ["pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"] },
      { name: "timeOfDay", kind: "categorical", values: ["day", "dusk", "night"] },
      { name: "weather", kind: "categorical", values: ["clear", "rain", "fog", "snow"] },
    ],
    defaults: { steps: 5, guidance: 7.5 },
    ...overrides,
  };
}

/** Copies a tiny export to modelsRoot/<dirName> and writes the manifest beside it (none when null); returns the directory. */
export async function installExport(tiny: TinyExport, modelsRoot: string, manifest: OptimumManifestInput | null, dirName = manifest?.name ?? tiny): Promise<string> {
  const dir = join(modelsRoot, dirName);
  await mkdir(modelsRoot, { recursive: true });
  await cp(join(OPTIMUM_FIXTURES, tiny), dir, { recursive: true });
  if (manifest) await writeFile(join(dir, "rareforge.json"), JSON.stringify(manifest, null, 2));
  return dir;
}
