-- CreateEnum
CREATE TYPE "PacsSendStatus" AS ENUM ('STORED', 'FAILED');

-- CreateTable
CREATE TABLE "PacsImport" (
    "id" UUID NOT NULL,
    "endpoint" TEXT NOT NULL,
    "studyUidHash" TEXT NOT NULL,
    "seriesUidHash" TEXT NOT NULL,
    "sopInstanceUidHash" TEXT NOT NULL,
    "referenceScanId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PacsImport_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PacsSend" (
    "id" UUID NOT NULL,
    "endpoint" TEXT NOT NULL,
    "artifactId" UUID NOT NULL,
    "sopInstanceUid" TEXT NOT NULL,
    "status" "PacsSendStatus" NOT NULL,
    "failure" TEXT,
    "attempts" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "PacsSend_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "PacsImport_referenceScanId_key" ON "PacsImport"("referenceScanId");

-- CreateIndex
CREATE UNIQUE INDEX "PacsImport_endpoint_sopInstanceUidHash_key" ON "PacsImport"("endpoint", "sopInstanceUidHash");

-- CreateIndex
CREATE UNIQUE INDEX "PacsSend_endpoint_artifactId_key" ON "PacsSend"("endpoint", "artifactId");

-- AddForeignKey
ALTER TABLE "PacsImport" ADD CONSTRAINT "PacsImport_referenceScanId_fkey" FOREIGN KEY ("referenceScanId") REFERENCES "ReferenceScan"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PacsSend" ADD CONSTRAINT "PacsSend_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
