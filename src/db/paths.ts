import path from "node:path";
import { PROJECT_ROOT } from "../paths.ts";

export { PROJECT_ROOT };
export const SCHEMA_PATH = path.join(PROJECT_ROOT, "prisma", "schema.prisma");
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, "prisma", "migrations");
