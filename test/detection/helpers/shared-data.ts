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

export const YOLOX_NANO = `${SHARED_DATA_DIR}detectors/yolox_nano.onnx`;
/** A 1280x720 highway dashcam frame with two cars in the right half (udacity/CarND-Vehicle-Detection). */
export const UDACITY_TEST1 = `${SHARED_DATA_DIR}images/udacity_test1.jpg`;
export const sharedYoloxAvailable = sharedDetectorAvailable && existsSync(YOLOX_NANO) && existsSync(UDACITY_TEST1);
if (sharedDetectorAvailable && !sharedYoloxAvailable) {
  console.warn(`skipping YOLOX conformance tests: ${YOLOX_NANO} or ${UDACITY_TEST1} is absent (third-party data under ../shared/data)`);
}
