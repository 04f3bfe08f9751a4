-- CreateEnum
CREATE TYPE "ExportFormat" AS ENUM ('YOLO', 'COCO', 'DICOM');

-- CreateEnum
CREATE TYPE "ExportStatus" AS ENUM ('READY', 'STREAMING', 'COMPLETED', 'FAILED');

-- CreateTable
CREATE TABLE "DatasetExport" (
    "id" UUID NOT NULL,
    "format" "ExportFormat" NOT NULL,
    "filter" JSONB NOT NULL,
    "split" JSONB NOT NULL,
    "sampleCount" INTEGER NOT NULL,
    "status" "ExportStatus" NOT NULL DEFAULT 'READY',
    "writtenCount" INTEGER NOT NULL DEFAULT 0,
    "byteCount" BIGINT NOT NULL DEFAULT 0,
    "error" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "DatasetExport_pkey" PRIMARY KEY ("id")
);
