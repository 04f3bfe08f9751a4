// PGlite that lets the event loop turn between statements, so HTTP keeps being served while the database is busy.
import { PGlite } from "@electric-sql/pglite";
import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * PGlite runs each statement synchronously (WebAssembly on the main thread) and hands its one connection to the
 * next waiter through promise callbacks, so a queue of statements runs back to back as one long microtask chain:
 * until the queue is empty no connection is accepted, no socket is read and no timer fires. Under 200 concurrent
 * requests the queue never empties for long, and connections waited in the kernel's accept queue for the whole run
 * (issue 16, bench/api-latency).
 *
 * This PGlite takes one event-loop turn each time a statement, script or transaction gets the connection, before
 * it runs. Waiters are still served in arrival order (PGlite's mutex is FIFO), so requests that arrive during the
 * turn queue behind the ones already waiting. Statements inside a transaction share its turn: the transaction
 * keeps the connection until it ends, as before.
 */
export class YieldingPGlite extends PGlite {
  override _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> {
    return super._runExclusiveTransaction(async () => {
      await nextTurn();
      return fn();
    });
  }
}
