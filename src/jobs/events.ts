// In-process notifications that a job changed, so a progress subscription in the same process reacts at
// once; subscriptions also poll the database, which is what carries changes made by other processes.
import { EventEmitter } from "node:events";

export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  changed(jobId: string): void {
    this.emitter.emit(jobId);
  }

  /** Resolves at the next change of the job, or after `timeoutMs`, or when `signal` aborts. */
  next(jobId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(jobId, done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emitter.once(jobId, done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * A row's snapshots whenever its change key differs from the last one yielded, until it stops running or is gone:
 * read at each in-process change notice and at least every `pollMs` (changes made by other processes).
 */
export async function* changeSnapshots<T>(
  events: JobEvents,
  id: string,
  watch: { load: () => Promise<T | null>; key: (row: T) => string; running: (row: T) => boolean; signal?: AbortSignal | undefined; pollMs?: number },
): AsyncGenerator<T> {
  let last = "";
  while (!watch.signal?.aborted) {
    const row = await watch.load();
    if (!row) return;
    const key = watch.key(row);
    if (key !== last) {
      last = key;
      yield row;
    }
    if (!watch.running(row)) return;
    await events.next(id, watch.pollMs ?? 500, watch.signal);
  }
}
