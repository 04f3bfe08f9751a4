// A generation job's states and counts, changed only through guarded single-statement updates so that any
// number of workers and the API agree: QUEUED -> RUNNING -> SUCCEEDED | PARTIAL | FAILED, or CANCELLED.
import type { Database } from "../db/index.ts";

export const TERMINAL_STATES = ["SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"] as const;
export type JobState = "QUEUED" | "RUNNING" | (typeof TERMINAL_STATES)[number];

export const isTerminal = (status: string): boolean => (TERMINAL_STATES as readonly string[]).includes(status);

/** QUEUED -> RUNNING when the first batch starts (no-op otherwise). */
export async function markRunning(db: Database, jobId: string): Promise<void> {
  await db.prisma.generationJob.updateMany({ where: { id: jobId, status: "QUEUED", cancelRequestedAt: null }, data: { status: "RUNNING", startedAt: new Date() } });
}

/**
 * Ends a job once every index is accounted for: SUCCEEDED (no failures), FAILED (nothing succeeded) or
 * PARTIAL, and for the last two a summary of why (counts and the first failed sample's error). One
 * statement, so of several workers finishing the last batches exactly one ends it.
 */
export async function finalizeIfDone(db: Database, jobId: string): Promise<boolean> {
  const changed = await db.prisma.$executeRaw`
    UPDATE "GenerationJob" AS j
       SET "status" = (CASE WHEN j."failedCount" = 0 THEN 'SUCCEEDED' WHEN j."completedCount" = 0 THEN 'FAILED' ELSE 'PARTIAL' END)::"JobStatus",
           "error" = CASE WHEN j."failedCount" = 0 THEN NULL ELSE
             j."failedCount" || ' of ' || j."count" || ' samples failed; ' ||
             COALESCE((SELECT 'first (sample ' || s."index" || '): ' || COALESCE(s."error", 'no error recorded') FROM "Sample" s
                        WHERE s."jobId" = j."id" AND s."status" = 'FAILED' ORDER BY s."index" LIMIT 1), 'no failed sample recorded')
           END,
           "finishedAt" = now()
     WHERE j."id" = ${jobId}::uuid AND j."status" = 'RUNNING' AND j."completedCount" + j."failedCount" >= j."count"`;
  return changed > 0;
}

/**
 * Requests cancellation: a QUEUED or RUNNING job becomes CANCELLED at once. A batch in flight then finds
 * its commit refused (the commit is guarded by the state), so the counts stay what they were at this moment.
 */
export async function cancelJob(db: Database, jobId: string): Promise<void> {
  const now = new Date();
  await db.prisma.generationJob.updateMany({
    where: { id: jobId, status: { in: ["QUEUED", "RUNNING"] } },
    data: { status: "CANCELLED", cancelRequestedAt: now, finishedAt: now },
  });
}
