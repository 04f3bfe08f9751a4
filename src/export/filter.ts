// Which samples an export holds: a validated filter turned into one Prisma `where`. Only samples that were
// generated (status OK, with a stored file) and created up to the export's creation are included, and a
// sample that any detector's realism gate marked INVALID is never exported.
import { z } from "zod";
import type { Domain } from "../access/index.ts";
import type { Prisma } from "../db/index.ts";
import { ValidationError, type FieldIssue } from "../errors.ts";

/** Score outcomes an export can select on; INVALID samples are excluded from every export. */
export const EXPORTABLE_OUTCOMES = ["HIT", "MISS", "WRONG_CLASS"] as const;
export type ExportableOutcome = (typeof EXPORTABLE_OUTCOMES)[number];


const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

export const exportFilterSchema = z
  .object({
    scenarioId: z.uuid().optional(),
    jobId: z.uuid().optional(),
    /** Samples with at least one score (any detector) whose outcome is one of these. */
    outcomes: z
      .array(z.string())
      .min(1, "give at least one outcome, or leave outcomes out")
      .superRefine((values, ctx) => {
        for (const value of values) {
          if (value === "INVALID") ctx.addIssue({ code: "custom", message: "INVALID samples are never exported; choose among HIT, MISS, WRONG_CLASS" });
          else if (!(EXPORTABLE_OUTCOMES as readonly string[]).includes(value))
            ctx.addIssue({ code: "custom", message: `unknown outcome "${value}"; allowed: ${EXPORTABLE_OUTCOMES.join(", ")}` });
        }
      })
      .transform((values) => [...new Set(values)].sort() as ExportableOutcome[])
      .optional(),
    /** Drawn parameter name -> value; all must match. */
    parameters: z.record(z.string().min(1), parameterValue).optional(),
  })
  .strict();

export type ExportFilter = z.infer<typeof exportFilterSchema>;

/** Validates a filter; an unknown key, a malformed id or an INVALID outcome is a ValidationError naming the field. */
export function parseExportFilter(input: unknown, pathPrefix = "filter"): ExportFilter {
  const parsed = exportFilterSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issues: FieldIssue[] = parsed.error.issues.map((issue) => ({
      path: [pathPrefix, ...issue.path.map(String)].join("."),
      message: issue.code === "unrecognized_keys" ? `unknown filter field(s): ${issue.keys.join(", ")}` : issue.message,
    }));
    throw new ValidationError(issues, "invalid export filter");
  }
  return parsed.data;
}

/** The Prisma `where` of the samples an export created at `cutoff` holds (of the given domains: the creator's scopes). */
export function sampleWhere(filter: ExportFilter, cutoff: Date, domains?: readonly Domain[]): Prisma.SampleWhereInput {
  const and: Prisma.SampleWhereInput[] = [
    { status: "OK", artifactId: { not: null }, createdAt: { lte: cutoff } },
    { scores: { none: { OR: [{ outcome: "INVALID" }, { realismValid: false }] } } },
  ];
  if (domains) and.push({ scenarioVersion: { scenario: { domain: { in: [...domains] } } } });
  if (filter.jobId) and.push({ jobId: filter.jobId });
  if (filter.scenarioId) and.push({ scenarioVersion: { scenarioId: filter.scenarioId } });
  if (filter.outcomes) and.push({ scores: { some: { outcome: { in: filter.outcomes }, realismValid: true } } });
  for (const [name, value] of Object.entries(filter.parameters ?? {})) and.push({ parameters: { path: [name], equals: value } });
  return { AND: and };
}
