-- CreateEnum
CREATE TYPE "ReferenceScanKind" AS ENUM ('DICOM', 'PNG', 'JPEG');

-- AlterTable
ALTER TABLE "Sample" ADD COLUMN     "files" JSONB NOT NULL DEFAULT '[]';

-- CreateTable
CREATE TABLE "ReferenceScan" (
    "id" UUID NOT NULL,
    "kind" "ReferenceScanKind" NOT NULL,
    "artifactId" UUID NOT NULL,
    "modality" TEXT,
    "rows" INTEGER NOT NULL,
    "columns" INTEGER NOT NULL,
    "studyInstanceUid" TEXT,
    "seriesInstanceUid" TEXT,
    "sopInstanceUid" TEXT,
    "sopClassUid" TEXT,
    "transferSyntaxUid" TEXT,
    "deidentification" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReferenceScan_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PathologyInsertion" (
    "id" UUID NOT NULL,
    "referenceScanId" UUID NOT NULL,
    "region" JSONB NOT NULL,
    "parameters" JSONB NOT NULL,
    "provenance" JSONB NOT NULL,
    "artifactId" UUID NOT NULL,
    "files" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "PathologyInsertion_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "PathologyInsertion_referenceScanId_idx" ON "PathologyInsertion"("referenceScanId");

-- AddForeignKey
ALTER TABLE "ReferenceScan" ADD CONSTRAINT "ReferenceScan_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PathologyInsertion" ADD CONSTRAINT "PathologyInsertion_referenceScanId_fkey" FOREIGN KEY ("referenceScanId") REFERENCES "ReferenceScan"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PathologyInsertion" ADD CONSTRAINT "PathologyInsertion_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
