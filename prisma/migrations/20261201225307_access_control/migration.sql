-- CreateEnum
CREATE TYPE "Role" AS ENUM ('VIEWER', 'OPERATOR', 'ADMIN');

-- AlterTable
ALTER TABLE "DatasetExport" ADD COLUMN     "domains" TEXT[];

-- AlterTable
ALTER TABLE "FailureSearch" ADD COLUMN     "ownerKeyId" UUID;

-- AlterTable
ALTER TABLE "GenerationJob" ADD COLUMN     "ownerKeyId" UUID;

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "scopes" "Domain"[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3),
    "revokedAt" TIMESTAMPTZ(3),
    "lastUsedAt" TIMESTAMPTZ(3),
    "rotatedFromId" UUID,

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "keyId" UUID,
    "keyPrefix" TEXT,
    "kind" TEXT NOT NULL,
    "operation" TEXT NOT NULL,
    "targetIds" TEXT[],
    "outcome" TEXT NOT NULL,
    "clientAddress" TEXT,
    "domain" "Domain",

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_prefix_key" ON "ApiKey"("prefix");

-- CreateIndex
CREATE INDEX "AuditEntry_at_idx" ON "AuditEntry"("at");

-- CreateIndex
CREATE INDEX "AuditEntry_keyId_at_idx" ON "AuditEntry"("keyId", "at");

-- The audit log is append-only: no statement may change or remove an entry.
CREATE FUNCTION "AuditEntry_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER "AuditEntry_no_update_or_delete"
  BEFORE UPDATE OR DELETE OR TRUNCATE ON "AuditEntry"
  FOR EACH STATEMENT EXECUTE FUNCTION "AuditEntry_append_only"();

-- Exports made before access control were open to anyone and may hold any domain's samples.
UPDATE "DatasetExport" SET "domains" = ARRAY['AUTOMOTIVE', 'MEDICAL'];
