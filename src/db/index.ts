export { openDatabase, databaseOptionsFromConfig, type Database, type DatabaseKind, type DatabaseOptions } from "./client.ts";
export { applyMigrations, readMigrations, migrationChecksum, MigrationError, MigrationChecksumError, type SqlSession } from "./migrate.ts";
export { DataDirectoryLockedError } from "./lock.ts";
export { runAsRequest, runDetached } from "./fair-pglite.ts";
export type { PrismaClient } from "../generated/prisma/client.ts";
export { Prisma } from "../generated/prisma/client.ts";
