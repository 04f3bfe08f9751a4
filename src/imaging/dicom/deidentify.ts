import dcmjs, { log as dcmjsLog } from "dcmjs";
import type { DcmjsDataSet, DcmjsElement } from "dcmjs";
import { RAREFORGE_VERSION } from "../../version.ts";
import { BASIC_PROFILE, isCurveOrOverlay } from "./confidentiality-profile.ts";
import { codeItem, el } from "./elements.ts";
import { DicomError } from "./errors.ts";
import { asDicomError, parse } from "./read.ts";
import { EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, describeTransferSyntax, lookupTransferSyntax } from "./transfer-syntax.ts";
import { generateUid } from "./uid.ts";
import { RAREFORGE_IMPLEMENTATION_CLASS_UID, RAREFORGE_IMPLEMENTATION_VERSION_NAME } from "./write.ts";

export const BASIC_PROFILE_NAME = "DICOM PS3.15 Basic Application Level Confidentiality Profile";
export const MODIFIED_DATES_OPTION_NAME = "Retain Longitudinal Temporal Information with Modified Dates Option";

export interface DeidentifyOptions {
  /**
   * Shift every date (DA, and the date part of DT) by this many days and keep times: PS3.15's Retain
   * Longitudinal Temporal Information with Modified Dates Option. Use one shift per patient, kept secret.
   * Without it, dates and times are emptied.
   */
  dateShiftDays?: number;
  /**
   * Original UID → replacement. Pass the same map for every file of a study so references between
   * them stay consistent; new UIDs (2.25.…) are added to it. A fresh map is used when omitted.
   */
  uidMap?: Map<string, string>;
  /** Written as Patient's Name and Patient ID instead of leaving them empty, e.g. a study pseudonym. */
  patientPseudonym?: string;
}

export interface DeidentificationReport {
  profile: typeof BASIC_PROFILE_NAME;
  options: string[];
  /** "(gggg,eeee) Keyword" of every attribute removed, emptied or replaced (no values: they are identifiers). */
  removed: string[];
  emptied: string[];
  replaced: string[];
  privateAttributesRemoved: number;
  uidsReplaced: number;
  datesShifted: number;
  dateShiftDays?: number;
  transferSyntax: { input: string; output: string };
  /** What the profile cannot guarantee for this file, e.g. identifiers burned into the pixels. */
  warnings: string[];
}

export interface DeidentifiedDicom {
  bytes: Uint8Array;
  report: DeidentificationReport;
  /** The UID map after this file (the one passed in, extended). */
  uidMap: Map<string, string>;
}

/** UIDs under the DICOM root name SOP classes, transfer syntaxes and coding schemes, not people or studies. */
const DICOM_UID_ROOT = "1.2.840.10008.";

/**
 * De-identifies a DICOM Part 10 file by the Basic Application Level Confidentiality Profile, before
 * anything is stored. Pixel data is kept as it is: a file that may show identity in its pixels
 * (Burned In Annotation YES or absent) is reported in `report.warnings`.
 */
export function deidentifyDicom(bytes: Uint8Array, options: DeidentifyOptions = {}): DeidentifiedDicom {
  try {
    return deidentifyUnguarded(bytes, options);
  } catch (thrown) {
    throw asDicomError(thrown);
  }
}

function deidentifyUnguarded(bytes: Uint8Array, options: DeidentifyOptions): DeidentifiedDicom {
  const { dateShiftDays } = options;
  if (dateShiftDays !== undefined && (!Number.isInteger(dateShiftDays) || Math.abs(dateShiftDays) > 365 * 200)) {
    throw new DicomError("INVALID_INPUT", `dateShiftDays must be a whole number of days, got ${dateShiftDays}`);
  }
  if (options.patientPseudonym !== undefined && !/^[^\\\n\r]{1,64}$/.test(options.patientPseudonym)) {
    throw new DicomError("INVALID_INPUT", "patientPseudonym must be 1 to 64 characters without backslash or line breaks");
  }

  // dicom-parser first: it turns truncated or foreign files into typed errors before dcmjs sees them.
  const parsed = parse(bytes);
  if (!parsed.hasFileMeta) {
    throw new DicomError("NOT_DICOM", "De-identification needs a DICOM Part 10 file (preamble, \"DICM\" and file meta information); this is a bare data set");
  }
  const inputSyntax = parsed.transferSyntaxUid;
  if (!lookupTransferSyntax(inputSyntax)) {
    throw new DicomError("UNSUPPORTED_TRANSFER_SYNTAX", `Transfer syntax ${describeTransferSyntax(inputSyntax)} cannot be rewritten`, { transferSyntaxUid: inputSyntax });
  }

  const file = readWithDcmjs(bytes);
  const outputSyntax = lookupTransferSyntax(inputSyntax)?.pixelEncoding === "native" ? EXPLICIT_VR_LITTLE_ENDIAN : inputSyntax;
  // dcmjs keeps OW/OF values in the file's byte order; its writer is little-endian only.
  if (inputSyntax === EXPLICIT_VR_BIG_ENDIAN) swapBinaryValuesToLittleEndian(file.dict);

  const uidMap = options.uidMap ?? new Map<string, string>();
  const report: DeidentificationReport = {
    profile: BASIC_PROFILE_NAME,
    options: dateShiftDays !== undefined ? [MODIFIED_DATES_OPTION_NAME] : [],
    removed: [],
    emptied: [],
    replaced: [],
    privateAttributesRemoved: 0,
    uidsReplaced: 0,
    datesShifted: 0,
    ...(dateShiftDays !== undefined ? { dateShiftDays } : {}),
    transferSyntax: { input: inputSyntax, output: outputSyntax },
    warnings: [],
  };
  const context: Context = { uidMap, report, dateShiftDays, pseudonym: options.patientPseudonym, seen: new Set() };

  const burnedIn = first(file.dict["00280301"]);
  applyProfile(file.dict, context);
  applyProfile(file.meta, context);

  // Record what was done (PS3.15 E.1.1, PS3.3 C.12.1.1.7).
  file.dict["00120062"] = el.text("CS", "YES");
  file.dict["00120063"] = el.texts("LO", [
    "PS3.15 Basic Application Confidentiality Profile",
    ...(dateShiftDays !== undefined ? ["Retain Longitudinal Temporal Modified Dates"] : []),
    `RareForge ${RAREFORGE_VERSION}`.slice(0, 64),
  ]);
  file.dict["00120064"] = el.seq([
    codeItem("113100", "DCM", "Basic Application Confidentiality Profile"),
    ...(dateShiftDays !== undefined ? [codeItem("113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option")] : []),
  ]);
  file.dict["00280303"] = el.text("CS", dateShiftDays !== undefined ? "MODIFIED" : "REMOVED");
  if (burnedIn !== "NO") {
    report.warnings.push(
      `Burned In Annotation (0028,0301) is ${burnedIn === undefined ? "absent" : `"${String(burnedIn)}"`}: identifiers drawn into the pixels are not removed by this profile; check the image before sharing it`,
    );
  }

  file.meta["00020010"] = el.text("UI", outputSyntax);
  file.meta["00020012"] = el.text("UI", RAREFORGE_IMPLEMENTATION_CLASS_UID);
  file.meta["00020013"] = el.text("SH", RAREFORGE_IMPLEMENTATION_VERSION_NAME);
  const sopInstanceUid = first(file.dict["00080018"]);
  if (typeof sopInstanceUid === "string") file.meta["00020003"] = el.text("UI", sopInstanceUid);

  let output: Uint8Array;
  try {
    output = new Uint8Array(file.write());
  } catch (thrown) {
    throw new DicomError("INVALID_VALUE", `The de-identified data set cannot be written: ${thrown instanceof Error ? thrown.message : String(thrown)}`, {}, { cause: thrown });
  }
  report.removed.sort();
  report.emptied.sort();
  report.replaced.sort();
  return { bytes: output, report, uidMap };
}

interface Context {
  uidMap: Map<string, string>;
  report: DeidentificationReport;
  dateShiftDays: number | undefined;
  pseudonym: string | undefined;
  /** Attribute names already listed in the report (an attribute in many sequence items is listed once). */
  seen: Set<string>;
}

function readWithDcmjs(bytes: Uint8Array): InstanceType<typeof dcmjs.data.DicomDict> {
  // dcmjs logs an error line for every implicit-VR "xs"/"ox" element it resolves by itself; that is
  // not the caller's concern (the element is read correctly either way).
  const loggers = [dcmjsLog, dcmjsLog.getLogger("validation.dcmjs")];
  const levels = loggers.map((logger) => logger.getLevel());
  for (const logger of loggers) logger.setLevel("silent");
  try {
    return dcmjs.data.DicomMessage.readFile(bytes.slice().buffer as ArrayBuffer);
  } catch (thrown) {
    throw new DicomError("INVALID_VALUE", `dcmjs cannot read the data set for rewriting: ${thrown instanceof Error ? thrown.message : String(thrown)}`, {}, { cause: thrown });
  } finally {
    loggers.forEach((logger, index) => logger.setLevel(levels[index] ?? "warn"));
  }
}

function first(element: DcmjsElement | undefined): unknown {
  return element?.Value?.[0];
}

function attributeName(tag: string): string {
  const punctuated = `(${tag.slice(0, 4)},${tag.slice(4, 8)})`;
  const entry = dcmjs.data.DicomMetaDictionary.dictionary[punctuated];
  return entry ? `${punctuated} ${entry.name}` : punctuated;
}

function note(list: "removed" | "emptied" | "replaced", tag: string, context: Context): void {
  const name = attributeName(tag);
  const key = `${list}:${name}`;
  if (context.seen.has(key)) return;
  context.seen.add(key);
  context.report[list].push(name);
}

function applyProfile(dataSet: DcmjsDataSet, context: Context): void {
  for (const tag of Object.keys(dataSet)) {
    const element = dataSet[tag];
    if (!element) continue;
    const upper = tag.toUpperCase();
    const group = Number.parseInt(upper.slice(0, 4), 16);

    // Private attributes (odd groups) can hold anything, including the patient's name: removed whole.
    if (group % 2 === 1) {
      delete dataSet[tag];
      context.report.privateAttributesRemoved++;
      continue;
    }
    if (isCurveOrOverlay(upper)) {
      delete dataSet[tag];
      note("removed", upper, context);
      continue;
    }

    const action = BASIC_PROFILE.get(upper);
    if (upper === "00100010" || upper === "00100020") {
      if (context.pseudonym !== undefined) {
        dataSet[tag] = upper === "00100010" ? el.pn(context.pseudonym) : el.text("LO", context.pseudonym);
        note("replaced", upper, context);
      } else {
        dataSet[tag] = el.empty(element.vr);
        note("emptied", upper, context);
      }
      continue;
    }
    if (action === "X") {
      delete dataSet[tag];
      note("removed", upper, context);
      continue;
    }
    const isTemporal = element.vr === "DA" || element.vr === "DT" || element.vr === "TM";
    // Dates and times follow the chosen option whatever the table says: shifted (dates) and kept (times), or emptied.
    if (isTemporal && upper !== "00100030") {
      temporal(dataSet, tag, element, context);
      continue;
    }
    if (action === "Z") {
      dataSet[tag] = el.empty(element.vr);
      note("emptied", upper, context);
      continue;
    }
    if (action === "D") {
      dataSet[tag] = element.vr === "PN" ? el.pn("ANONYMIZED") : el.text(element.vr, "ANONYMIZED");
      note("replaced", upper, context);
      continue;
    }

    switch (element.vr) {
      case "SQ":
        for (const item of element.Value ?? []) {
          if (item && typeof item === "object") applyProfile(item as DcmjsDataSet, context);
        }
        break;
      case "UI":
        replaceUids(dataSet, tag, element, context);
        break;
      case "PN":
        // Any person (operator, physician, observer) not listed above: no name survives.
        if ((element.Value?.length ?? 0) > 0) {
          dataSet[tag] = el.empty("PN");
          note("emptied", upper, context);
        }
        break;
      case "DA":
        // Patient's Birth Date (listed Z in the table, never shifted: it identifies on its own).
        dataSet[tag] = el.empty("DA");
        note("emptied", upper, context);
        break;
      default:
        break;
    }
  }
}

function replaceUids(dataSet: DcmjsDataSet, tag: string, element: DcmjsElement, context: Context): void {
  const values = (element.Value ?? []).map((value) => String(value).replace(/\0/g, "").trim());
  if (values.every((uid) => uid === "" || uid.startsWith(DICOM_UID_ROOT))) return;
  const replaced = values.map((uid) => {
    if (uid === "" || uid.startsWith(DICOM_UID_ROOT)) return uid;
    let replacement = context.uidMap.get(uid);
    if (!replacement) {
      replacement = generateUid();
      context.uidMap.set(uid, replacement);
    }
    context.report.uidsReplaced++;
    return replacement;
  });
  dataSet[tag] = el.texts("UI", replaced);
  note("replaced", tag.toUpperCase(), context);
}

function temporal(dataSet: DcmjsDataSet, tag: string, element: DcmjsElement, context: Context): void {
  const upper = tag.toUpperCase();
  if ((element.Value?.length ?? 0) === 0) return;
  if (context.dateShiftDays === undefined) {
    dataSet[tag] = el.empty(element.vr);
    note("emptied", upper, context);
    return;
  }
  if (element.vr === "TM") return; // times of day carry no date: kept under the modified-dates option
  const days = context.dateShiftDays;
  const shifted = (element.Value ?? []).map((value) => shiftDateValue(String(value), days));
  if (shifted.some((value) => value === undefined)) {
    // A date that cannot be parsed cannot be shifted safely: it is emptied instead.
    dataSet[tag] = el.empty(element.vr);
    note("emptied", upper, context);
    return;
  }
  dataSet[tag] = el.texts(element.vr, shifted as string[]);
  context.report.datesShifted += shifted.length;
  note("replaced", upper, context);
}

/** Shifts the YYYYMMDD start of a DA or DT value (or each end of a range) by whole days, in UTC. */
export function shiftDateValue(value: string, days: number): string | undefined {
  const trimmed = value.trim();
  if (trimmed.includes("-") && /^\d{8}/.test(trimmed) && trimmed.indexOf("-") === 8) {
    const [from, to] = trimmed.split("-");
    const a = from ? shiftDateValue(from, days) : "";
    const b = to ? shiftDateValue(to, days) : "";
    return a === undefined || b === undefined ? undefined : `${a}-${b}`;
  }
  const match = /^(\d{4})(\d{2})(\d{2})(.*)$/.exec(trimmed);
  if (!match) return undefined;
  const [, year, month, day, rest] = match;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (date.getUTCMonth() !== Number(month) - 1) return undefined;
  date.setUTCDate(date.getUTCDate() + days);
  const text = date.toISOString().slice(0, 10).replace(/-/g, "");
  return `${text}${rest ?? ""}`;
}

function swapBinaryValuesToLittleEndian(dataSet: DcmjsDataSet): void {
  for (const element of Object.values(dataSet)) {
    const width = element.vr === "OW" ? 2 : element.vr === "OF" || element.vr === "OL" ? 4 : element.vr === "OD" ? 8 : 0;
    if (element.vr === "SQ") {
      for (const item of element.Value ?? []) if (item && typeof item === "object") swapBinaryValuesToLittleEndian(item as DcmjsDataSet);
      continue;
    }
    if (width === 0) continue;
    element.Value = (element.Value ?? []).map((value) => {
      if (!(value instanceof ArrayBuffer)) return value;
      const bytes = new Uint8Array(value.slice(0));
      for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
      return bytes.buffer;
    });
  }
}
