// Instants given on the command line: ISO 8601 dates and date-times, and durations from now (`--expires 90d`).
import { ValidationError } from "../errors.ts";

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const DURATION = /^(\d+)([hdw])$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** `2026-03-01` (midnight UTC), `2026-03-01T12:00Z`, `2026-03-01T12:00+02:00` (no offset: local time). */
export function parseInstant(option: string, text: string): Date {
  const value = text.trim();
  const time = ISO_INSTANT.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time)) throw new ValidationError([{ path: option, message: `expected an ISO date or date-time such as 2026-03-01 or 2026-03-01T12:00Z, got "${text}"` }]);
  return new Date(time);
}

/** An ISO instant, or a duration from now: `12h`, `90d`, `8w`. */
export function parseInstantOrDuration(option: string, text: string, now = Date.now()): Date {
  const duration = DURATION.exec(text.trim());
  if (!duration) {
    if (ISO_INSTANT.test(text.trim())) return parseInstant(option, text);
    throw new ValidationError([{ path: option, message: `expected an ISO date or date-time (2026-03-01, 2026-03-01T12:00Z) or a duration from now (12h, 90d, 8w), got "${text}"` }]);
  }
  return new Date(now + Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]);
}
