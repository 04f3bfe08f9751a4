-- AlterTable
ALTER TABLE "Detection" ADD COLUMN     "context" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "FrameScore" (
    "id" UUID NOT NULL,
    "referenceScanId" UUID NOT NULL,
    "detectorPackageId" UUID NOT NULL,
    "detections" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FrameScore_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReferenceSet" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "domain" "Domain" NOT NULL DEFAULT 'AUTOMOTIVE',
    "tags" TEXT[],
    "camera" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ReferenceSet_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReferenceSetFrame" (
    "id" UUID NOT NULL,
    "setId" UUID NOT NULL,
    "referenceScanId" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "camera" JSONB,
    "addedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReferenceSetFrame_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "FrameScore_referenceScanId_detectorPackageId_key" ON "FrameScore"("referenceScanId", "detectorPackageId");

-- CreateIndex
CREATE UNIQUE INDEX "ReferenceSet_name_key" ON "ReferenceSet"("name");

-- CreateIndex
CREATE INDEX "ReferenceSetFrame_setId_position_idx" ON "ReferenceSetFrame"("setId", "position");

-- CreateIndex
CREATE UNIQUE INDEX "ReferenceSetFrame_setId_referenceScanId_key" ON "ReferenceSetFrame"("setId", "referenceScanId");

-- AddForeignKey
ALTER TABLE "FrameScore" ADD CONSTRAINT "FrameScore_referenceScanId_fkey" FOREIGN KEY ("referenceScanId") REFERENCES "ReferenceScan"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FrameScore" ADD CONSTRAINT "FrameScore_detectorPackageId_fkey" FOREIGN KEY ("detectorPackageId") REFERENCES "DetectorPackage"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReferenceSetFrame" ADD CONSTRAINT "ReferenceSetFrame_setId_fkey" FOREIGN KEY ("setId") REFERENCES "ReferenceSet"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReferenceSetFrame" ADD CONSTRAINT "ReferenceSetFrame_referenceScanId_fkey" FOREIGN KEY ("referenceScanId") REFERENCES "ReferenceScan"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
