// PGlite that shares the event loop and serves its one connection oldest-request-first, so HTTP keeps being
// served while the database is busy and no request waits much longer than the others (issue 16).
import { AsyncLocalStorage } from "node:async_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import { PGlite } from "@electric-sql/pglite";

/** When the request a statement belongs to arrived (performance.now()); absent outside a request. */
const requestArrival = new AsyncLocalStorage<number>();

/**
 * Runs `work` as one request: every statement it issues, however deep in Prisma or pg-boss, is queued with
 * the request's arrival time, so it goes ahead of statements of requests that arrived later.
 */
export function runAsRequest<T>(work: () => T, arrivedAt = performance.now()): T {
  return requestArrival.run(arrivedAt, work);
}

/**
 * Runs `work` outside any request: background work a request starts (a failure search's loop) must not keep
 * that request's early arrival, or its statements would go ahead of every later request for as long as it runs.
 */
export function runDetached<T>(work: () => T): T {
  return requestArrival.exit(work);
}

interface Waiter {
  arrivedAt: number;
  sequence: number;
  start: () => Promise<unknown>;
}

/**
 * PGlite runs each statement synchronously (WebAssembly on the main thread) and hands its one connection to the
 * next waiter through promise callbacks, so a queue of statements ran back to back as one long microtask chain:
 * until it emptied no connection was accepted, no socket read and no timer fired; under 200 concurrent requests
 * connections waited in the kernel's accept queue for the whole run (bench/api-latency).
 *
 * This PGlite takes one event-loop turn before each statement, script or transaction gets the connection, and
 * then gives it to the waiter whose request arrived first (statements outside a request count from the moment
 * they are issued, so the queue, pg-boss and the worker are never starved: every waiter becomes the oldest).
 * A request's second and later statements therefore overtake the first statements of newer requests, which
 * bounds the time a request of several statements spends queued to about one turn of the whole queue. Waiters
 * of equal arrival keep their order. Statements inside a transaction share its turn.
 */
export class FairPGlite extends PGlite {
  readonly #waiting: Waiter[] = [];
  #sequence = 0;
  #serving = false;

  override _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> {
    const arrivedAt = requestArrival.getStore() ?? performance.now();
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ arrivedAt, sequence: this.#sequence++, start: () => super._runExclusiveTransaction(fn).then(resolve, reject) });
      void this.#serve();
    });
  }

  async #serve(): Promise<void> {
    if (this.#serving) return;
    this.#serving = true;
    try {
      while (this.#waiting.length > 0) {
        await nextTurn();
        await this.#takeOldest().start();
      }
    } finally {
      this.#serving = false;
    }
  }

  #takeOldest(): Waiter {
    let best = 0;
    for (let i = 1; i < this.#waiting.length; i++) {
      const w = this.#waiting[i]!;
      const b = this.#waiting[best]!;
      if (w.arrivedAt < b.arrivedAt || (w.arrivedAt === b.arrivedAt && w.sequence < b.sequence)) best = i;
    }
    return this.#waiting.splice(best, 1)[0]!;
  }
}
