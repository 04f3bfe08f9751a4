import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** ../shared/data/dicom relative to the repository root: third-party files that must never be copied into the repo. */
export const SHARED_DICOM_DIR = fileURLToPath(new URL("../../../../shared/data/dicom/", import.meta.url));

export const sharedDicomAvailable = existsSync(SHARED_DICOM_DIR);

export const SKIP_SHARED_DICOM_MESSAGE = `skipped: ${SHARED_DICOM_DIR} is absent (third-party DICOM conformance files live beside the repository, not in it)`;

if (!sharedDicomAvailable) console.warn(SKIP_SHARED_DICOM_MESSAGE);

export function readSharedDicom(name: string): Uint8Array {
  return new Uint8Array(readFileSync(SHARED_DICOM_DIR + name));
}
