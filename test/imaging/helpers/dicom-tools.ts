import { spawnSync } from "node:child_process";

/**
 * The third-party DICOM checkers CI installs from Debian (.ci/apt-packages.txt): dicom3tools' dciodvfy,
 * dcmtk's dcmdump and python3-pydicom. A user's machine may lack them, so each check reports whether
 * its tool is there and the tests skip with a message when it is not.
 */

function commandExists(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).status === 0;
}

export const dciodvfyAvailable = commandExists("dciodvfy");
export const dcmdumpAvailable = commandExists("dcmdump");

/** Debian's python3 has pydicom; a virtual environment's python3 earlier on PATH may not. */
export const pydicomPython: string | undefined = ["/usr/bin/python3", "python3"].find(
  (python) => spawnSync(python, ["-c", "import pydicom, numpy"], { encoding: "utf8" }).status === 0,
);

export function skipMessage(tool: string, debianPackage: string): string {
  return `skipped: ${tool} is not installed (Debian package ${debianPackage}; CI installs it from .ci/apt-packages.txt)`;
}

for (const [available, tool, debianPackage] of [
  [dciodvfyAvailable, "dciodvfy", "dicom3tools"],
  [dcmdumpAvailable, "dcmdump", "dcmtk"],
  [pydicomPython !== undefined, "pydicom", "python3-pydicom"],
] as const) {
  if (!available) console.warn(skipMessage(tool, debianPackage));
}

export interface DciodvfyVerdict {
  iod: string | undefined;
  errors: string[];
  warnings: string[];
  /** Errors that only say dicom3tools' built-in dictionary predates an attribute RareForge must write. */
  staleDictionaryErrors: string[];
  output: string;
}

/**
 * Attributes newer than the dicom3tools dictionary in Debian 12 (1.00~20220618): Synthetic Data
 * (0008,001C) came with a later edition of PS3.6, so that build reports it as "not a recognized standard
 * attribute". Such an error is set apart only when the same run also says the tag is unrecognized.
 */
const NEWER_THAN_DICOM3TOOLS_DICTIONARY = ["(0x0008,0x001c)"];

export function runDciodvfy(file: string): DciodvfyVerdict {
  const result = spawnSync("dciodvfy", [file], { encoding: "utf8" });
  const output = `${result.stdout}${result.stderr}`;
  const lines = output.split("\n").map((line) => line.trim()).filter(Boolean);
  const allErrors = lines.filter((line) => /(^|\s-\s)Error\s-/.test(line));
  const unrecognized = new Set(NEWER_THAN_DICOM3TOOLS_DICTIONARY.filter((tag) => lines.some((line) => line.startsWith(tag) && /Unrecognized tag/.test(line))));
  const isStale = (line: string): boolean => /not a recognized standard attribute/.test(line) && [...unrecognized].some((tag) => line.includes(tag));
  const iodLine = lines.find((line) => /^[A-Za-z]+$/.test(line));
  return {
    iod: iodLine,
    errors: allErrors.filter((line) => !isStale(line)),
    staleDictionaryErrors: allErrors.filter(isStale),
    warnings: lines.filter((line) => /(^|\s-\s)Warning\s-/.test(line)),
    output,
  };
}

export interface DcmdumpResult {
  status: number | null;
  output: string;
  /** (gggg,eeee) lowercase → the dumped line. */
  lines: Map<string, string>;
}

export function runDcmdump(file: string): DcmdumpResult {
  const result = spawnSync("dcmdump", ["-q", "+L", file], { encoding: "utf8" });
  const output = `${result.stdout}${result.stderr}`;
  const lines = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const match = /^\((\w{4},\w{4})\)/.exec(line);
    if (match?.[1] && !lines.has(match[1])) lines.set(match[1], line);
  }
  return { status: result.status, output, lines };
}

export interface PydicomReading {
  sopClassName: string;
  rows: number;
  columns: number;
  dtype: string;
  pixelSum: number;
  pixels: number[];
  syntheticData: string | null;
  privateRecord: string | null;
}

const PYDICOM_SCRIPT = `
import json, sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
a = ds.pixel_array
def value(tag):
    return str(ds[tag].value) if tag in ds else None
print(json.dumps({
  "sopClassName": ds.SOPClassUID.name, "rows": int(ds.Rows), "columns": int(ds.Columns),
  "dtype": str(a.dtype), "pixelSum": int(a.astype("int64").sum()), "pixels": a.flatten().tolist(),
  "syntheticData": value(0x0008001C), "privateRecord": value(0x00091001),
}))
`;

export function readWithPydicom(file: string): PydicomReading {
  if (!pydicomPython) throw new Error("pydicom is not available");
  const result = spawnSync(pydicomPython, ["-c", PYDICOM_SCRIPT, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`pydicom could not read ${file}: ${result.stderr}`);
  return JSON.parse(result.stdout) as PydicomReading;
}
