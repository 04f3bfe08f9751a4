// The audit log: one append-only row per mutation (allowed or refused) and per read or download of medical data.
// The table refuses UPDATE and DELETE itself (a trigger in the migration).
import { z } from "zod";
import type { Database } from "../db/index.ts";
import { ValidationError } from "../errors.ts";
import type { AuditEntry } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { Caller, Domain } from "./caller.ts";

export type AuditKind = "mutation" | "query" | "subscription" | "download";

export interface AuditEvent {
  caller: Caller;
  kind: AuditKind;
  operation: string;
  targetIds: readonly string[];
  /** `OK`, the result's error type, `FORBIDDEN` or `ERROR`. */
  outcome: string;
  domain: Domain | null;
}

/** Target ids kept per entry (a list read names its first rows). */
const MAX_TARGETS = 100;

export const auditFilterSchema = z.object({
  keyId: z.uuid().nullish(),
  operation: z.string().max(200).nullish(),
  kind: z.enum(["mutation", "query", "subscription", "download"]).nullish(),
  outcome: z.string().max(200).nullish(),
  targetId: z.string().max(200).nullish(),
  since: z.date().nullish(),
  until: z.date().nullish(),
  first: z.number().int().min(1).max(1000).nullish(),
});
export type AuditFilter = z.input<typeof auditFilterSchema>;

export class AuditLog {
  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  /** Appends an entry. A failure to write is logged, never thrown: the operation it describes has happened. */
  async record(event: AuditEvent): Promise<void> {
    try {
      await this.db.prisma.auditEntry.create({
        data: {
          keyId: event.caller.keyId,
          keyPrefix: event.caller.label,
          kind: event.kind,
          operation: event.operation,
          targetIds: [...new Set(event.targetIds)].slice(0, MAX_TARGETS),
          outcome: event.outcome,
          clientAddress: event.caller.clientAddress,
          domain: event.domain,
        },
      });
    } catch (error) {
      this.logger.error({ err: error, operation: event.operation }, "could not write the audit log");
    }
  }

  /** Newest first. Entries about medical data exist only for medical keys (the data layer's scoping). */
  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const parsed = auditFilterSchema.safeParse(filter);
    if (!parsed.success)
      throw new ValidationError(parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })), "invalid audit filter");
    const f = parsed.data;
    return this.db.prisma.auditEntry.findMany({
      where: {
        ...(f.keyId ? { keyId: f.keyId } : {}),
        ...(f.operation ? { operation: f.operation } : {}),
        ...(f.kind ? { kind: f.kind } : {}),
        ...(f.outcome ? { outcome: f.outcome } : {}),
        ...(f.targetId ? { targetIds: { has: f.targetId } } : {}),
        ...(f.since || f.until ? { at: { ...(f.since ? { gte: f.since } : {}), ...(f.until ? { lt: f.until } : {}) } } : {}),
      },
      orderBy: { id: "desc" },
      take: f.first ?? 100,
    });
  }
}
