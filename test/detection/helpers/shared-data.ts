import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** ../shared/data relative to the repository root: third-party files that must never be copied into the repo. */
export const SHARED_DATA_DIR = fileURLToPath(new URL("../../../../shared/data/", import.meta.url));
export const YOLOV8N_INT8 = `${SHARED_DATA_DIR}detectors/yolov8n_int8.onnx`;
export const BUS_JPG = `${SHARED_DATA_DIR}images/bus.jpg`;
export const sharedDetectorAvailable = existsSync(YOLOV8N_INT8) && existsSync(BUS_JPG);
if (!sharedDetectorAvailable) {
  console.warn(`skipping detector conformance tests: ${YOLOV8N_INT8} or ${BUS_JPG} is absent (third-party data under ../shared/data)`);
}
export const readShared = (path: string) => new Uint8Array(readFileSync(path));
