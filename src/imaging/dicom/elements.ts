import type { DcmjsDataSet, DcmjsElement } from "dcmjs";

/** Small builders for dcmjs's denaturalized form, so IOD code reads as a list of attributes. */
export const el = {
  text: (vr: string, value: string | undefined): DcmjsElement => (value === undefined || value === "" ? { vr, Value: [] } : { vr, Value: [value] }),
  texts: (vr: string, values: string[]): DcmjsElement => ({ vr, Value: values }),
  pn: (value: string | undefined): DcmjsElement => (value ? { vr: "PN", Value: [{ Alphabetic: value }] } : { vr: "PN", Value: [] }),
  us: (value: number): DcmjsElement => ({ vr: "US", Value: [value] }),
  ds: (...values: number[]): DcmjsElement => ({ vr: "DS", Value: values.map(formatDecimalString) }),
  is: (value: number | undefined): DcmjsElement => (value === undefined ? { vr: "IS", Value: [] } : { vr: "IS", Value: [String(Math.trunc(value))] }),
  seq: (items: DcmjsDataSet[]): DcmjsElement => ({ vr: "SQ", Value: items }),
  empty: (vr: string): DcmjsElement => ({ vr, Value: [] }),
};

/** DS holds at most 16 characters (PS3.5 6.2): shorten the decimal rather than let a writer overflow it. */
export function formatDecimalString(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`DS value must be finite, got ${value}`);
  let text = String(value);
  for (let digits = 15; text.length > 16 && digits > 0; digits--) text = String(Number(value.toPrecision(digits)));
  return text;
}

/** DA: YYYYMMDD in UTC. */
export function dicomDate(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, "");
}

/** TM: HHMMSS.FFFFFF in UTC. */
export function dicomTime(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}000`;
}

/** DT with an explicit UTC offset, so readers need not guess the timezone. */
export function dicomDateTime(date: Date): string {
  return `${dicomDate(date)}${dicomTime(date)}+0000`;
}

/** A code sequence item (PS3.3 8.8, Code Sequence Macro). */
export function codeItem(value: string, scheme: string, meaning: string): DcmjsDataSet {
  return {
    "00080100": el.text("SH", value),
    "00080102": el.text("SH", scheme),
    "00080104": el.text("LO", meaning),
  };
}
