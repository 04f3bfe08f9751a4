-- CreateEnum
CREATE TYPE "SuiteRunStatus" AS ENUM ('RUNNING', 'PASSED', 'FAILED', 'ERROR');

-- CreateEnum
CREATE TYPE "CriterionStatus" AS ENUM ('PASSED', 'FAILED', 'SKIPPED');

-- CreateTable
CREATE TABLE "Suite" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "domains" TEXT[],
    "latestVersion" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Suite_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SuiteVersion" (
    "id" UUID NOT NULL,
    "suiteId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "specHash" TEXT NOT NULL,
    "source" "ScenarioSource" NOT NULL,
    "domains" TEXT[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SuiteVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SuiteRun" (
    "id" UUID NOT NULL,
    "suiteVersionId" UUID NOT NULL,
    "detectorPackageId" UUID NOT NULL,
    "baselineDetectorPackageId" UUID,
    "status" "SuiteRunStatus" NOT NULL DEFAULT 'RUNNING',
    "domains" TEXT[],
    "generatedCount" INTEGER NOT NULL DEFAULT 0,
    "reusedCount" INTEGER NOT NULL DEFAULT 0,
    "report" JSONB,
    "error" TEXT,
    "ownerKeyId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "SuiteRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SuiteCriterionResult" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "scenario" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "condition" JSONB,
    "status" "CriterionStatus" NOT NULL,
    "observed" DOUBLE PRECISION,
    "limit" DOUBLE PRECISION NOT NULL,
    "pValue" DOUBLE PRECISION,
    "adjustedP" DOUBLE PRECISION,
    "message" TEXT NOT NULL,

    CONSTRAINT "SuiteCriterionResult_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Suite_name_key" ON "Suite"("name");

-- CreateIndex
CREATE UNIQUE INDEX "SuiteVersion_suiteId_version_key" ON "SuiteVersion"("suiteId", "version");

-- CreateIndex
CREATE INDEX "SuiteRun_suiteVersionId_idx" ON "SuiteRun"("suiteVersionId");

-- CreateIndex
CREATE INDEX "SuiteCriterionResult_runId_idx" ON "SuiteCriterionResult"("runId");

-- AddForeignKey
ALTER TABLE "SuiteVersion" ADD CONSTRAINT "SuiteVersion_suiteId_fkey" FOREIGN KEY ("suiteId") REFERENCES "Suite"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SuiteRun" ADD CONSTRAINT "SuiteRun_suiteVersionId_fkey" FOREIGN KEY ("suiteVersionId") REFERENCES "SuiteVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SuiteCriterionResult" ADD CONSTRAINT "SuiteCriterionResult_runId_fkey" FOREIGN KEY ("runId") REFERENCES "SuiteRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
