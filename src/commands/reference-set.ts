// `rareforge reference-set create|add|remove|camera|list`: group camera frames (AUTOMOTIVE uploads, ids printed by
// `rareforge upload --domain AUTOMOTIVE`) into named sets that scenarios name as their background, with the camera
// that stands hazards on their road. Acts on the configured database, as `upload` does; prints JSON.
import type { Command } from "commander";
import { loadConfig } from "../config.ts";
import { ValidationError } from "../errors.ts";
import { ReferenceSetService } from "../uploads/index.ts";
import { reportFailure, withDatabase } from "./database.ts";

/** `horizonRow,heightM,focalPx`. */
export function parseCamera(value: string) {
  const parts = value.split(",").map((part) => Number(part.trim()));
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n))) throw new ValidationError([{ path: "camera", message: `--camera must be horizonRow,heightM,focalPx, got "${value}"` }], "invalid camera");
  const [horizonRow, heightM, focalLengthPx] = parts as [number, number, number];
  return { horizonRow, heightM, focalLengthPx };
}

type StoredSet = Awaited<ReturnType<ReferenceSetService["get"]>>;
const summary = (set: StoredSet) => ({
  id: set.id,
  name: set.name,
  tags: set.tags,
  camera: set.camera,
  frames: set.frames.map((f) => ({ position: f.position, referenceScanId: f.referenceScanId, width: f.referenceScan.columns, height: f.referenceScan.rows, camera: f.camera })),
});

function run(command: string, work: (sets: ReferenceSetService) => Promise<unknown>) {
  return async () => {
    try {
      const result = await withDatabase(loadConfig(), (db) => work(new ReferenceSetService(db)));
      console.log(JSON.stringify(result));
    } catch (error) {
      reportFailure(`reference-set ${command}`, error);
    }
  };
}

export function registerReferenceSetCommand(program: Command): void {
  const sets = program.command("reference-set").description("named groups of camera frames that scenarios use as backgrounds (`background.referenceSet`)");
  sets
    .command("create")
    .argument("<name>", "lowercase words joined by hyphens")
    .option("--tag <tag...>", "tags")
    .option("--camera <horizonRow,heightM,focalPx>", "the camera of frames without their own")
    .action((name: string, options: { tag?: string[]; camera?: string }) =>
      run("create", async (service) => summary(await service.create({ name, tags: options.tag ?? [], camera: options.camera ? parseCamera(options.camera) : null })))(),
    );
  sets
    .command("add")
    .argument("<set>", "the set's name or id")
    .argument("<frameIds...>", "AUTOMOTIVE PNG/JPEG uploads (ids printed by `rareforge upload --domain AUTOMOTIVE`)")
    .option("--camera <horizonRow,heightM,focalPx>", "these frames' own camera, overriding the set's")
    .action((set: string, frameIds: string[], options: { camera?: string }) =>
      run("add", async (service) => {
        const camera = options.camera ? parseCamera(options.camera) : null;
        return summary(await service.addFrames((await service.get(set)).id, frameIds.map((referenceScanId) => ({ referenceScanId, camera }))));
      })(),
    );
  sets
    .command("remove")
    .argument("<set>", "the set's name or id")
    .argument("<frameIds...>", "frames to take out (the uploads stay)")
    .action((set: string, frameIds: string[]) => run("remove", async (service) => summary(await service.removeFrames((await service.get(set)).id, frameIds)))());
  sets
    .command("camera")
    .argument("<set>", "the set's name or id")
    .argument("[frameId]", "one frame's camera instead of the set's")
    .option("--camera <horizonRow,heightM,focalPx>", "the camera")
    .option("--clear", "remove the camera")
    .action((set: string, frameId: string | undefined, options: { camera?: string; clear?: boolean }) =>
      run("camera", async (service) => {
        if (Boolean(options.camera) === Boolean(options.clear)) throw new ValidationError([{ path: "camera", message: "give exactly one of --camera and --clear" }], "invalid camera");
        return summary(await service.setCamera((await service.get(set)).id, options.camera ? parseCamera(options.camera) : null, frameId ?? null));
      })(),
    );
  sets
    .command("list")
    .description("every set with its frames")
    .action(() => run("list", async (service) => (await service.list()).map(summary))());
}
