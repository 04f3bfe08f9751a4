import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** ../shared/data/images relative to the repository root: real camera frames, never copied into the repo. */
export const SHARED_IMAGES_DIR = fileURLToPath(new URL("../../../../shared/data/images/", import.meta.url));

export const sharedImagesAvailable = existsSync(SHARED_IMAGES_DIR);

export const SKIP_SHARED_IMAGES_MESSAGE = `skipped: ${SHARED_IMAGES_DIR} is absent (real camera frames live beside the repository, not in it)`;

if (!sharedImagesAvailable) console.warn(SKIP_SHARED_IMAGES_MESSAGE);

/** The frames the acceptance names: four Udacity frames (1280×720) and one KITTI frame (1242×375). */
export const CAMERA_FRAMES = ["udacity_test1.jpg", "udacity_test2.jpg", "udacity_test3.jpg", "udacity_test4.jpg", "kitti_000007.png"];

export function readSharedImage(name: string): Uint8Array {
  return new Uint8Array(readFileSync(SHARED_IMAGES_DIR + name));
}
