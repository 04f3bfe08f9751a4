export { openQueue, splitIntoTasks, BATCH_QUEUE, type BatchTask, type QueueSettings } from "./queue.ts";
export { startWorker, offeredProviders, pendingIndices, WORKER_LIVENESS_MS, type RunningWorker, type WorkerDependencies } from "./worker.ts";
export { cancelJob, finalizeIfDone, markRunning, isTerminal, TERMINAL_STATES, type JobState } from "./lifecycle.ts";
export { watchProgress, readProgress, type JobProgress } from "./progress.ts";
export { changeSnapshots, JobEvents } from "./events.ts";
export { ExecutionProviderUnavailableError, ReproductionUnavailableError } from "./errors.ts";
export { JobService, type GenerationRequest, type ReproductionReport } from "./service.ts";
