// The embedded database shares the event loop: while statements queue for PGlite's one connection, the loop
// still turns between them (sockets are read, connections accepted, timers fire), and the queue is served
// oldest request first: outside requests in arrival order, and a request's later statements ahead of the
// statements of requests that arrived after it (issue 16).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, runAsRequest, runDetached, type Database } from "../../src/db/index.ts";

/** A statement that keeps PGlite busy for a while (the work is done inside the WebAssembly call). */
const busy = (rows: number) => `SELECT count(*) FROM generate_series(1, ${rows})`;

describe("embedded PGlite scheduling", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ kind: "pglite" });
  });
  afterAll(async () => {
    await db.close();
  });

  it("lets the event loop turn between queued statements, through Prisma and pg-boss's path alike", async () => {
    const events: string[] = [];
    let pending = 12;
    const statements = Array.from({ length: pending }, (_, i) => {
      // Prisma (driver adapter) and pg-boss (fromPglite) both end in PGlite's query/exec.
      const run = i % 3 === 0 ? db.prisma.$queryRawUnsafe(busy(20_000)) : i % 3 === 1 ? db.pglite!.query(busy(20_000)) : db.pglite!.exec(busy(20_000));
      return run.then(() => {
        events.push("statement");
        pending--;
      });
    });
    // An event-loop turn counter: one entry per turn of the loop, until the statements are done.
    const turns = new Promise<void>((resolve) => {
      const turn = () => {
        if (pending === 0) return resolve();
        events.push("turn");
        setImmediate(turn);
      };
      setImmediate(turn);
    });
    await Promise.all([...statements, turns]);
    expect(events.filter((e) => e === "statement")).toHaveLength(12);
    // No two statements complete back to back: the loop turned (and could serve I/O) between every pair.
    const backToBack = events.slice(1).filter((e, i) => e === "statement" && events[i] === "statement");
    expect(backToBack).toEqual([]);
  });

  // Arrival order at the connection's queue (Prisma's own pipeline is asynchronous, so its statements arrive there later than they are issued).
  it("serves queued statements and transactions in arrival order, behind a long one", async () => {
    const completed: string[] = [];
    const submitted: string[] = [];
    const work: Promise<unknown>[] = [];
    const submit = (name: string, run: () => Promise<unknown>) => {
      submitted.push(name);
      work.push(run().then(() => completed.push(name)));
    };
    submit("long", () => db.pglite!.query(busy(400_000)));
    for (let i = 0; i < 5; i++) submit(`short-${i}`, () => db.pglite!.query("SELECT 1"));
    submit("transaction", () =>
      db.pglite!.transaction(async (tx) => {
        await tx.query("SELECT 1");
        await tx.query(busy(50_000));
      }),
    );
    for (let i = 5; i < 10; i++) submit(`short-${i}`, () => (i % 2 ? db.pglite!.exec("SELECT 1") : db.pglite!.query("SELECT 1")));
    await Promise.all(work);
    expect(completed).toEqual(submitted);
  });

  it("serves the statements of an older request ahead of those of newer requests queued before them", async () => {
    const completed: string[] = [];
    const arrived = performance.now();
    const statement = (name: string, arrivedAt: number) => runAsRequest(() => db.pglite!.query("SELECT 1"), arrivedAt).then(() => completed.push(name));
    // queued in this order while the connection waits for its turn: two newer requests, then both
    // statements of a request that arrived before them
    const work = [statement("second:1", arrived + 1), statement("third:1", arrived + 2), statement("first:1", arrived), statement("first:2", arrived)];
    await Promise.all(work);
    expect(completed).toEqual(["first:1", "first:2", "second:1", "third:1"]);
  });

  it("work a request detaches (a search's loop) queues as background work, not with the request's arrival", async () => {
    const completed: string[] = [];
    const arrived = performance.now();
    const work = [
      // started by a request that arrived long ago, but detached from it: it counts from when it is issued
      runAsRequest(() => runDetached(() => db.pglite!.query("SELECT 1")), arrived - 60_000).then(() => completed.push("detached")),
      runAsRequest(() => db.pglite!.query("SELECT 1"), arrived - 1).then(() => completed.push("request")),
    ];
    await Promise.all(work);
    expect(completed).toEqual(["request", "detached"]);
  });
});
