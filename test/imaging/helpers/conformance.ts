// Every DICOM RareForge writes goes through the same third-party checks: dciodvfy (no errors but the one
// stale-dictionary error for Synthetic Data), dcmdump (reads the whole file) and pydicom (decodes the
// pixels). Tools that are not installed are listed in `skipped`; the caller reports them.
import { dciodvfyAvailable, dcmdumpAvailable, pydicomPython, readWithPydicom, runDcmdump, runDciodvfy, skipMessage } from "./dicom-tools.ts";

export interface ConformanceReport {
  iod: string | undefined;
  problems: string[];
  skipped: string[];
  pydicomPixels?: number[];
  sopClassName?: string;
}

export function checkConformance(path: string): ConformanceReport {
  const report: ConformanceReport = { iod: undefined, problems: [], skipped: [] };
  if (dciodvfyAvailable) {
    const verdict = runDciodvfy(path);
    report.iod = verdict.iod;
    for (const error of verdict.errors) report.problems.push(`dciodvfy: ${error}`);
    for (const stale of verdict.staleDictionaryErrors) if (!stale.includes("(0x0008,0x001c)")) report.problems.push(`dciodvfy: ${stale}`);
  } else report.skipped.push(skipMessage("dciodvfy", "dicom3tools"));
  if (dcmdumpAvailable) {
    const dump = runDcmdump(path);
    if (dump.status !== 0 || /^E:/m.test(dump.output)) report.problems.push(`dcmdump: status ${dump.status}: ${dump.output.slice(0, 500)}`);
    if (!dump.lines.has("7fe0,0010")) report.problems.push("dcmdump: no Pixel Data");
  } else report.skipped.push(skipMessage("dcmdump", "dcmtk"));
  if (pydicomPython) {
    try {
      const reading = readWithPydicom(path);
      report.pydicomPixels = reading.pixels;
      report.sopClassName = reading.sopClassName;
    } catch (error) {
      report.problems.push(`pydicom: ${(error as Error).message}`);
    }
  } else report.skipped.push(skipMessage("pydicom", "python3-pydicom"));
  for (const message of report.skipped) console.warn(message);
  return report;
}
