// PACS over DICOMweb: the configured endpoints' names, a QIDO-RS search, importFromPacs and sendToPacs.
// Everything here is medical data: a key without the medical scope is refused (access-rules.ts).
import { NotFoundError, ValidationError } from "../../errors.ts";
import { PACS_ERROR_CODES, PacsError, type DicomJson } from "../../pacs/index.ts";
import { UploadRefusedError } from "../../uploads/index.ts";
import { builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { ErrorInterface } from "./errors.ts";

const PacsErrorCodeEnum = builder.enumType("PacsErrorCode", { values: PACS_ERROR_CODES });

builder.objectType(PacsError, {
  name: "PacsError",
  description: "A PACS operation failed or was refused (unknown endpoint, unreachable, HTTP failure, a file without Synthetic Data = YES…).",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    code: t.field({ type: PacsErrorCodeEnum, resolve: (e) => e.code }),
    httpStatus: t.exposeInt("httpStatus", { nullable: true }),
  }),
});

interface ImportedInstanceShape {
  status: "IMPORTED" | "ALREADY_IMPORTED" | "REFUSED";
  referenceScanId?: string;
  code?: string;
  message?: string;
  instanceNumber: number | null;
}

const ImportedInstanceRef = builder.objectRef<ImportedInstanceShape>("PacsImportedInstance").implement({
  description: "One instance of an import: stored as a reference scan, already imported earlier, or refused by the upload path.",
  fields: (t) => ({
    status: t.field({ type: builder.enumType("PacsImportStatus", { values: ["IMPORTED", "ALREADY_IMPORTED", "REFUSED"] as const }), resolve: (i) => i.status }),
    instanceNumber: t.exposeInt("instanceNumber", { nullable: true }),
    referenceScan: t.prismaField({
      type: "ReferenceScan",
      nullable: true,
      resolve: (query, i, _args, ctx) => (i.referenceScanId ? ctx.db.prisma.referenceScan.findUnique({ ...query, where: { id: i.referenceScanId } }) : null),
    }),
    refusalCode: t.string({ nullable: true, description: "The upload's refusal code (the DICOM reader's where it refused).", resolve: (i) => i.code ?? null }),
    refusal: t.string({ nullable: true, resolve: (i) => i.message ?? null }),
  }),
});

const PacsImportRef = builder.objectRef<{ endpoint: string; instances: ImportedInstanceShape[] }>("PacsImport").implement({
  fields: (t) => ({ endpoint: t.exposeString("endpoint"), instances: t.field({ type: [ImportedInstanceRef], resolve: (r) => r.instances }) }),
});

interface SentInstanceShape {
  sopInstanceUid: string;
  sha256: string;
  status: "STORED" | "FAILED" | "ALREADY_STORED";
  failure: string | null;
  attempts: number;
}

const SentInstanceRef = builder.objectRef<SentInstanceShape>("PacsSentInstance").implement({
  description: "One synthetic instance of a send and its outcome at the endpoint.",
  fields: (t) => ({
    sopInstanceUid: t.exposeString("sopInstanceUid"),
    sha256: t.exposeString("sha256"),
    status: t.field({ type: builder.enumType("PacsSendOutcome", { values: ["STORED", "FAILED", "ALREADY_STORED"] as const }), resolve: (i) => i.status }),
    failure: t.exposeString("failure", { nullable: true, description: "The STOW-RS failure reason, or the request's error." }),
    attempts: t.exposeInt("attempts"),
  }),
});

const PacsSendRef = builder.objectRef<{ endpoint: string; instances: SentInstanceShape[] }>("PacsSend").implement({
  fields: (t) => ({ endpoint: t.exposeString("endpoint"), instances: t.field({ type: [SentInstanceRef], resolve: (r) => r.instances }) }),
});

builder.queryFields((t) => ({
  pacsEndpoints: t.stringList({
    description: "Names of the configured DICOMweb endpoints (RAREFORGE_PACS_ENDPOINTS); never their URLs or credentials.",
    resolve: (_root, _args, ctx) => ctx.pacs.endpointNames(),
  }),
  pacsSearch: t.field({
    type: ["JSON"],
    description: "QIDO-RS: the endpoint's studies matching `filters` (e.g. { PatientID: \"123\" }), or with `studyInstanceUid` that study's series; DICOM JSON data sets.",
    args: {
      endpoint: t.arg.string({ required: true }),
      studyInstanceUid: t.arg.string({ required: false }),
      filters: t.arg({ type: "JSON", required: false }),
    },
    errors: { types: [PacsError, ValidationError] },
    resolve: (_root, args, ctx) => {
      const filters = (args.filters ?? {}) as unknown;
      if (typeof filters !== "object" || filters === null || Array.isArray(filters) || Object.values(filters).some((v) => typeof v !== "string")) {
        throw new ValidationError([{ path: "filters", message: "an object of QIDO-RS parameter -> string" }]);
      }
      return ctx.pacs.search(args.endpoint, { studyInstanceUid: args.studyInstanceUid ?? null, filters: filters as Record<string, string> }) as Promise<DicomJson[]>;
    },
  }),
}));

builder.mutationFields((t) => ({
  importFromPacs: t.field({
    type: PacsImportRef,
    description:
      "WADO-RS: stores a study's (or one series') instances as reference scans through the upload path (de-identified before anything is written). Where each came from is kept only as keyed hashes; an instance imported before is not stored again.",
    args: {
      endpoint: t.arg.string({ required: true }),
      studyInstanceUid: t.arg.string({ required: true }),
      seriesInstanceUid: t.arg.string({ required: false }),
    },
    errors: { types: [PacsError, ValidationError, UploadRefusedError] },
    resolve: (_root, args, ctx) => ctx.pacs.importFromPacs(args.endpoint, args.studyInstanceUid, args.seriesInstanceUid ?? null),
  }),
  sendToPacs: t.field({
    type: PacsSendRef,
    description:
      "STOW-RS: sends the synthetic DICOM images and SEG objects of a job, a pathology insertion or samples (exactly one). Files without Synthetic Data = YES are never sent; instances already stored at the endpoint are not sent again, so sending again re-sends only what failed.",
    args: {
      endpoint: t.arg.string({ required: true }),
      jobId: t.arg.globalID({ required: false }),
      insertionId: t.arg.globalID({ required: false }),
      sampleIds: t.arg.globalIDList({ required: false }),
    },
    errors: { types: [PacsError, ValidationError, NotFoundError] },
    resolve: (_root, args, ctx) => {
      const given = [args.jobId, args.insertionId, args.sampleIds].filter((a) => a !== null && a !== undefined).length;
      if (given !== 1) throw new ValidationError([{ path: "jobId", message: "give exactly one of jobId, insertionId and sampleIds" }]);
      if (args.jobId) return ctx.pacs.sendToPacs(args.endpoint, { jobId: decodeGlobalId("GenerationJob", args.jobId) });
      if (args.insertionId) return ctx.pacs.sendToPacs(args.endpoint, { insertionId: decodeGlobalId("PathologyInsertion", args.insertionId) });
      return ctx.pacs.sendToPacs(args.endpoint, { sampleIds: (args.sampleIds ?? []).map((id) => decodeGlobalId("Sample", id)) });
    },
  }),
}));
