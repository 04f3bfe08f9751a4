-- AlterTable
ALTER TABLE "ReferenceScan" ADD COLUMN     "domain" "Domain" NOT NULL DEFAULT 'MEDICAL';

-- CreateTable
CREATE TABLE "HazardInsertion" (
    "id" UUID NOT NULL,
    "referenceScanId" UUID NOT NULL,
    "box" JSONB NOT NULL,
    "parameters" JSONB NOT NULL,
    "groundTruth" JSONB NOT NULL,
    "provenance" JSONB NOT NULL,
    "artifactId" UUID NOT NULL,
    "files" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "HazardInsertion_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "HazardInsertion_referenceScanId_idx" ON "HazardInsertion"("referenceScanId");

-- AddForeignKey
ALTER TABLE "HazardInsertion" ADD CONSTRAINT "HazardInsertion_referenceScanId_fkey" FOREIGN KEY ("referenceScanId") REFERENCES "ReferenceScan"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HazardInsertion" ADD CONSTRAINT "HazardInsertion_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
