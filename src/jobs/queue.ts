// The batch-task queue: pg-boss on the same database as everything else. On PGlite through pg-boss's
// built-in `fromPglite` adapter (in-process, one connection shared with Prisma); on PostgreSQL through
// its own pool, so any number of worker processes on any machines share the queue.
import { PgBoss, fromPglite } from "pg-boss";
import type { Config } from "../config.ts";
import type { Database } from "../db/index.ts";
import type { Logger } from "../logger.ts";

export const BATCH_QUEUE = "generation-batch";

/** One batch task: sample indices [start, end) of a generation job. */
export interface BatchTask {
  jobId: string;
  start: number;
  end: number;
}

export type QueueSettings = Pick<Config, "taskExpireSeconds" | "queuePollSeconds">;

export async function openQueue(db: Database, settings: QueueSettings, logger: Logger): Promise<PgBoss> {
  const common = {
    // Workers are woken by NOTIFY when a task is inserted; polling is the floor under it.
    useListenNotify: true,
    // Expired tasks (a worker killed mid-batch) are found by the supervisor: every second, not every minute.
    superviseIntervalSeconds: 1,
    monitorIntervalSeconds: 10,
    schedule: false,
    registerInstance: false,
  };
  const boss =
    db.kind === "pglite"
      ? new PgBoss({ ...common, db: fromPglite(db.pglite!), backend: "pglite" })
      : new PgBoss({ ...common, connectionString: db.url!, max: 4 });
  boss.on("error", (error: unknown) => logger.error({ err: error }, "queue error"));
  boss.on("warning", (warning: unknown) => logger.debug({ warning }, "queue warning"));
  await boss.start();
  const options = {
    notify: true,
    expireInSeconds: settings.taskExpireSeconds,
    // Attempts after a crash or an error; the last attempt records the batch's remaining samples as failed.
    retryLimit: 4,
    retryDelay: 0,
    deleteAfterSeconds: 24 * 3600,
  };
  if (await boss.getQueue(BATCH_QUEUE)) await boss.updateQueue(BATCH_QUEUE, options);
  else await boss.createQueue(BATCH_QUEUE, options);
  return boss;
}

/** Splits indices firstIndex..firstIndex+count-1 (default from 0) into tasks of batchSize consecutive indices. */
export function splitIntoTasks(jobId: string, count: number, batchSize: number, firstIndex = 0): BatchTask[] {
  const tasks: BatchTask[] = [];
  const end = firstIndex + count;
  for (let start = firstIndex; start < end; start += batchSize) tasks.push({ jobId, start, end: Math.min(end, start + batchSize) });
  return tasks;
}
