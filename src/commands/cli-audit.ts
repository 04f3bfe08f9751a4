// Changes a command makes on the database directly are audited as the CLI's (no key id), under the name of the
// GraphQL mutation that does the same, so `rareforge audit --operation <name>` finds both.
import { localCaller, type AuditLog, type Domain } from "../access/index.ts";

export interface CliChange {
  operation: string;
  /** Ids the command was given. */
  targets: string[];
  /** The domain of the data concerned (entries about medical data are seen by medical keys only). */
  domain: Domain | null;
}

/** Runs the change and records it: `OK` with the ids it touched, or the error's name. */
export async function auditedAsCli<T>(audit: AuditLog, change: CliChange, run: () => Promise<T>, touched: (result: T) => string[]): Promise<T> {
  const record = (outcome: string, ids: string[]) =>
    audit.record({ caller: localCaller("cli"), kind: "mutation", operation: change.operation, targetIds: [...change.targets, ...ids], outcome, domain: change.domain });
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await record(error instanceof Error && error.name !== "Error" ? error.name : "ERROR", []);
    throw error;
  }
  await record("OK", touched(result));
  return result;
}
