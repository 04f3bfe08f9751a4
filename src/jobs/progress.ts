// Job progress as a stream of snapshots: completed and failed counts, throughput, ETA and state. It reads
// the job row (the one source of truth, whichever process runs the batches), wakes on in-process events
// and polls otherwise, emits only when something changed, and ends after the job reaches a final state.
import type { Database } from "../db/index.ts";
import type { JobEvents } from "./events.ts";
import { isTerminal } from "./lifecycle.ts";

export interface JobProgress {
  jobId: string;
  status: string;
  count: number;
  completedCount: number;
  failedCount: number;
  /** Samples (completed or failed) per second since the job started; null before any. */
  samplesPerSecond: number | null;
  /** Seconds left at the current throughput; null when unknown, 0 when finished. */
  etaSeconds: number | null;
  at: Date;
}

export async function readProgress(db: Database, jobId: string): Promise<JobProgress | null> {
  const job = await db.prisma.generationJob.findUnique({
    where: { id: jobId },
    select: { id: true, status: true, count: true, completedCount: true, failedCount: true, startedAt: true, finishedAt: true },
  });
  if (!job) return null;
  const now = new Date();
  const done = job.completedCount + job.failedCount;
  const elapsed = job.startedAt ? ((job.finishedAt ?? now).getTime() - job.startedAt.getTime()) / 1000 : 0;
  const samplesPerSecond = done > 0 && elapsed > 0 ? done / elapsed : null;
  const finished = isTerminal(job.status);
  return {
    jobId: job.id,
    status: job.status,
    count: job.count,
    completedCount: job.completedCount,
    failedCount: job.failedCount,
    samplesPerSecond,
    etaSeconds: finished ? 0 : samplesPerSecond ? (job.count - done) / samplesPerSecond : null,
    at: now,
  };
}

export async function* watchProgress(db: Database, events: JobEvents, jobId: string, options: { pollMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobProgress> {
  const pollMs = options.pollMs ?? 250;
  let last = "";
  while (!options.signal?.aborted) {
    const progress = await readProgress(db, jobId);
    if (!progress) return;
    const key = `${progress.status}|${progress.completedCount}|${progress.failedCount}`;
    if (key !== last) {
      last = key;
      yield progress;
    }
    if (isTerminal(progress.status)) return;
    await events.next(jobId, pollMs, options.signal);
  }
}
