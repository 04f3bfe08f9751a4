-- AlterTable
ALTER TABLE "GenerationJob" ADD COLUMN     "taskCount" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "Sample" ADD COLUMN     "workerId" TEXT;

-- CreateTable
CREATE TABLE "WorkerInstance" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "executionProviders" TEXT[],
    "concurrency" INTEGER NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WorkerInstance_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "WorkerInstance_heartbeatAt_idx" ON "WorkerInstance"("heartbeatAt");
