-- CreateEnum
CREATE TYPE "SearchMethod" AS ENUM ('CEM', 'RANDOM', 'HALTON');

-- CreateEnum
CREATE TYPE "SearchStatus" AS ENUM ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');

-- AlterTable
ALTER TABLE "GenerationJob" ADD COLUMN     "searchId" UUID;

-- CreateTable
CREATE TABLE "FailureSearch" (
    "id" UUID NOT NULL,
    "scenarioVersionId" UUID NOT NULL,
    "detectorPackageId" UUID NOT NULL,
    "method" "SearchMethod" NOT NULL,
    "status" "SearchStatus" NOT NULL DEFAULT 'RUNNING',
    "budget" INTEGER NOT NULL,
    "batchSize" INTEGER NOT NULL,
    "seed" BIGINT NOT NULL,
    "sampler" TEXT NOT NULL,
    "steps" INTEGER NOT NULL,
    "guidance" DOUBLE PRECISION NOT NULL,
    "executionProvider" TEXT NOT NULL,
    "settings" JSONB NOT NULL DEFAULT '{}',
    "iterations" JSONB NOT NULL DEFAULT '[]',
    "evaluatedCount" INTEGER NOT NULL DEFAULT 0,
    "failureCount" INTEGER NOT NULL DEFAULT 0,
    "distribution" JSONB,
    "derivedScenarioId" UUID,
    "error" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "FailureSearch_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "FailureSearch_scenarioVersionId_idx" ON "FailureSearch"("scenarioVersionId");

-- CreateIndex
CREATE INDEX "GenerationJob_searchId_idx" ON "GenerationJob"("searchId");

-- AddForeignKey
ALTER TABLE "GenerationJob" ADD CONSTRAINT "GenerationJob_searchId_fkey" FOREIGN KEY ("searchId") REFERENCES "FailureSearch"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FailureSearch" ADD CONSTRAINT "FailureSearch_scenarioVersionId_fkey" FOREIGN KEY ("scenarioVersionId") REFERENCES "ScenarioVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FailureSearch" ADD CONSTRAINT "FailureSearch_detectorPackageId_fkey" FOREIGN KEY ("detectorPackageId") REFERENCES "DetectorPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FailureSearch" ADD CONSTRAINT "FailureSearch_derivedScenarioId_fkey" FOREIGN KEY ("derivedScenarioId") REFERENCES "Scenario"("id") ON DELETE SET NULL ON UPDATE CASCADE;
