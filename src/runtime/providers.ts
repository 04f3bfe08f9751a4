// Which execution providers a process offers, and the typed refusal of one it does not: shared by the job
// service (no worker offers it) and work done in the API process (reference insertions: it cannot load it here).
import { DomainError } from "../errors.ts";

/** The execution providers a worker offers: cpu always, and the GPU provider it was configured with. */
export function offeredProviders(configured: string): string[] {
  return [...new Set(["cpu", "auto", configured])];
}

/** The request names an execution provider that no worker offers (or, for work done in the API process, that it cannot load). */
export class ExecutionProviderUnavailableError extends DomainError {
  override name = "ExecutionProviderUnavailableError";
  constructor(
    readonly requested: string,
    readonly available: string[],
    reason = `no worker offers execution provider "${requested}"`,
  ) {
    super(`${reason}; available: ${available.join(", ")}`);
  }
}
