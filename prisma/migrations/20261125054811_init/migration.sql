-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "Domain" AS ENUM ('AUTOMOTIVE', 'MEDICAL');

-- CreateEnum
CREATE TYPE "ScenarioSource" AS ENUM ('LIBRARY', 'API', 'SEARCH');

-- CreateEnum
CREATE TYPE "JobStatus" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "SampleStatus" AS ENUM ('OK', 'FAILED');

-- CreateEnum
CREATE TYPE "ScoreOutcome" AS ENUM ('HIT', 'MISS', 'WRONG_CLASS', 'INVALID');

-- CreateTable
CREATE TABLE "Scenario" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "domain" "Domain" NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "tags" TEXT[],
    "modelName" TEXT NOT NULL,
    "latestVersion" INTEGER NOT NULL DEFAULT 1,
    "archivedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Scenario_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ScenarioVersion" (
    "id" UUID NOT NULL,
    "scenarioId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "specHash" TEXT NOT NULL,
    "source" "ScenarioSource" NOT NULL,
    "derivedFrom" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ScenarioVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelPackage" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "domain" "Domain" NOT NULL,
    "manifest" JSONB NOT NULL,
    "manifestSha256" TEXT NOT NULL,
    "fileHashes" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ModelPackage_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DetectorPackage" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "domain" "Domain",
    "manifest" JSONB NOT NULL,
    "manifestSha256" TEXT NOT NULL,
    "fileHashes" JSONB NOT NULL,
    "classNames" TEXT[],
    "classMap" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DetectorPackage_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GenerationJob" (
    "id" UUID NOT NULL,
    "scenarioVersionId" UUID NOT NULL,
    "modelPackageId" UUID,
    "detectorPackageId" UUID,
    "status" "JobStatus" NOT NULL DEFAULT 'QUEUED',
    "count" INTEGER NOT NULL,
    "batchSize" INTEGER NOT NULL,
    "sampler" TEXT NOT NULL,
    "steps" INTEGER NOT NULL,
    "guidance" DOUBLE PRECISION NOT NULL,
    "seed" BIGINT NOT NULL,
    "executionProvider" TEXT NOT NULL,
    "options" JSONB NOT NULL DEFAULT '{}',
    "completedCount" INTEGER NOT NULL DEFAULT 0,
    "failedCount" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),
    "cancelRequestedAt" TIMESTAMPTZ(3),

    CONSTRAINT "GenerationJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Sample" (
    "id" UUID NOT NULL,
    "jobId" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "scenarioVersionId" UUID NOT NULL,
    "modelPackageId" UUID,
    "status" "SampleStatus" NOT NULL,
    "error" TEXT,
    "parameters" JSONB NOT NULL,
    "condition" DOUBLE PRECISION[],
    "labels" JSONB NOT NULL DEFAULT '[]',
    "sampler" TEXT NOT NULL,
    "steps" INTEGER NOT NULL,
    "guidance" DOUBLE PRECISION NOT NULL,
    "seed" BIGINT NOT NULL,
    "executionProvider" TEXT NOT NULL,
    "onnxruntimeVersion" TEXT NOT NULL,
    "rareforgeVersion" TEXT NOT NULL,
    "provenance" JSONB NOT NULL,
    "timings" JSONB NOT NULL DEFAULT '{}',
    "artifactId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Sample_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Artifact" (
    "id" UUID NOT NULL,
    "sha256" TEXT NOT NULL,
    "mediaType" TEXT NOT NULL,
    "byteSize" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Artifact_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Detection" (
    "id" UUID NOT NULL,
    "sampleId" UUID NOT NULL,
    "detectorPackageId" UUID NOT NULL,
    "className" TEXT NOT NULL,
    "confidence" DOUBLE PRECISION NOT NULL,
    "x1" DOUBLE PRECISION NOT NULL,
    "y1" DOUBLE PRECISION NOT NULL,
    "x2" DOUBLE PRECISION NOT NULL,
    "y2" DOUBLE PRECISION NOT NULL,
    "matchedLabel" INTEGER,
    "iou" DOUBLE PRECISION,

    CONSTRAINT "Detection_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Score" (
    "id" UUID NOT NULL,
    "sampleId" UUID NOT NULL,
    "detectorPackageId" UUID NOT NULL,
    "outcome" "ScoreOutcome" NOT NULL,
    "confidence" DOUBLE PRECISION,
    "iou" DOUBLE PRECISION,
    "falsePositives" INTEGER NOT NULL DEFAULT 0,
    "realismValid" BOOLEAN NOT NULL DEFAULT true,
    "realismDetails" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Score_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Scenario_name_key" ON "Scenario"("name");

-- CreateIndex
CREATE INDEX "Scenario_domain_idx" ON "Scenario"("domain");

-- CreateIndex
CREATE UNIQUE INDEX "ScenarioVersion_scenarioId_version_key" ON "ScenarioVersion"("scenarioId", "version");

-- CreateIndex
CREATE UNIQUE INDEX "ModelPackage_name_version_key" ON "ModelPackage"("name", "version");

-- CreateIndex
CREATE UNIQUE INDEX "DetectorPackage_name_version_key" ON "DetectorPackage"("name", "version");

-- CreateIndex
CREATE INDEX "GenerationJob_scenarioVersionId_idx" ON "GenerationJob"("scenarioVersionId");

-- CreateIndex
CREATE INDEX "GenerationJob_status_idx" ON "GenerationJob"("status");

-- CreateIndex
CREATE INDEX "Sample_scenarioVersionId_idx" ON "Sample"("scenarioVersionId");

-- CreateIndex
CREATE UNIQUE INDEX "Sample_jobId_index_key" ON "Sample"("jobId", "index");

-- CreateIndex
CREATE UNIQUE INDEX "Artifact_sha256_key" ON "Artifact"("sha256");

-- CreateIndex
CREATE INDEX "Detection_sampleId_detectorPackageId_idx" ON "Detection"("sampleId", "detectorPackageId");

-- CreateIndex
CREATE UNIQUE INDEX "Score_sampleId_detectorPackageId_key" ON "Score"("sampleId", "detectorPackageId");

-- AddForeignKey
ALTER TABLE "ScenarioVersion" ADD CONSTRAINT "ScenarioVersion_scenarioId_fkey" FOREIGN KEY ("scenarioId") REFERENCES "Scenario"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GenerationJob" ADD CONSTRAINT "GenerationJob_scenarioVersionId_fkey" FOREIGN KEY ("scenarioVersionId") REFERENCES "ScenarioVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GenerationJob" ADD CONSTRAINT "GenerationJob_modelPackageId_fkey" FOREIGN KEY ("modelPackageId") REFERENCES "ModelPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GenerationJob" ADD CONSTRAINT "GenerationJob_detectorPackageId_fkey" FOREIGN KEY ("detectorPackageId") REFERENCES "DetectorPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Sample" ADD CONSTRAINT "Sample_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "GenerationJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Sample" ADD CONSTRAINT "Sample_scenarioVersionId_fkey" FOREIGN KEY ("scenarioVersionId") REFERENCES "ScenarioVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Sample" ADD CONSTRAINT "Sample_modelPackageId_fkey" FOREIGN KEY ("modelPackageId") REFERENCES "ModelPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Sample" ADD CONSTRAINT "Sample_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Detection" ADD CONSTRAINT "Detection_sampleId_fkey" FOREIGN KEY ("sampleId") REFERENCES "Sample"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Detection" ADD CONSTRAINT "Detection_detectorPackageId_fkey" FOREIGN KEY ("detectorPackageId") REFERENCES "DetectorPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Score" ADD CONSTRAINT "Score_sampleId_fkey" FOREIGN KEY ("sampleId") REFERENCES "Sample"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Score" ADD CONSTRAINT "Score_detectorPackageId_fkey" FOREIGN KEY ("detectorPackageId") REFERENCES "DetectorPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
