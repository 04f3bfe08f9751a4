import { createHash, randomUUID } from "node:crypto";

/**
 * UIDs under the root 2.25, which PS3.5 B.2 reserves for UUID-derived UIDs: "2.25." followed by the
 * 128-bit UUID as one unsigned decimal integer (at most 44 characters). No registered org root is
 * needed, and fresh UIDs from independent workers never collide.
 */
export const UID_ROOT = "2.25";

/** A fresh UID for a study, a series, an instance or a frame of reference. */
export function generateUid(): string {
  return uuidToUid(randomUUID());
}

export function uuidToUid(uuid: string): string {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`Not a UUID: ${uuid}`);
  return `${UID_ROOT}.${BigInt(`0x${hex}`).toString(10)}`;
}

/**
 * A UID derived from a name (UUID version 5 layout over SHA-1, RFC 4122 4.3): the same name always gives
 * the same UID. Used where two writers must agree on a UID without talking, e.g. a job's study UID.
 */
export function uidFromName(name: string): string {
  const digest = createHash("sha1").update(name, "utf8").digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return `${UID_ROOT}.${BigInt(`0x${bytes.toString("hex")}`).toString(10)}`;
}

/** PS3.5 9.1: digits and dots, components without leading zeros, at most 64 characters. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/.test(uid);
}
