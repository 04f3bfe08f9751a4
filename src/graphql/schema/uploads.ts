// Reference scans (multipart upload, de-identified before storage) and pathologies inserted into them.
import { GraphQLError } from "graphql";
import { NotFoundError, ValidationError } from "../../errors.ts";
import { ExecutionProviderUnavailableError } from "../../jobs/index.ts";
import { InsertionRefusedError, parseHazardParameters, parseInsertionInput, UploadRefusedError, UPLOAD_REFUSAL_CODES, INSERTION_REFUSAL_CODES } from "../../uploads/index.ts";
import { artifactUrl, builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { SamplerEnum, SAMPLING_DEFAULT_DESCRIPTIONS } from "./sampling.ts";
import { ErrorInterface } from "./errors.ts";
import { DomainEnum } from "./scenarios.ts";

builder.scalarType("File", {
  description: "A file sent as a part of a multipart request (GraphQL multipart request spec); input only.",
  serialize: () => {
    throw new Error("File is an input-only scalar");
  },
  parseValue: (value) => {
    // graphql-yoga hands over its fetch implementation's File, which need not be Node's global one.
    const file = value as Partial<File> | null;
    if (typeof file !== "object" || file === null || typeof file.arrayBuffer !== "function" || typeof file.size !== "number") {
      throw new GraphQLError("File must be a file part of a multipart request (GraphQL multipart request spec)");
    }
    return value as File;
  },
});

const UploadRefusalCodeEnum = builder.enumType("UploadRefusalCode", { values: UPLOAD_REFUSAL_CODES });
const InsertionRefusalCodeEnum = builder.enumType("InsertionRefusalCode", { values: INSERTION_REFUSAL_CODES });
const ReferenceScanKindEnum = builder.enumType("ReferenceScanKind", { values: ["DICOM", "PNG", "JPEG"] as const });

builder.objectType(UploadRefusedError, {
  name: "UploadRefusedError",
  description: "The upload was not stored: nothing was written.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    code: t.field({ type: UploadRefusalCodeEnum, resolve: (e) => e.code }),
    dicomCode: t.exposeString("dicomCode", { nullable: true, description: "The DICOM reader's reason (TRUNCATED, UNSUPPORTED_TRANSFER_SYNTAX…)." }),
    transferSyntaxUid: t.exposeString("transferSyntaxUid", { nullable: true }),
  }),
});

builder.objectType(InsertionRefusedError, {
  name: "InsertionRefusedError",
  interfaces: [ErrorInterface],
  fields: (t) => ({ code: t.field({ type: InsertionRefusalCodeEnum, resolve: (e) => e.code }) }),
});

interface StoredFile {
  role: string;
  sha256: string;
  mediaType: string;
  byteSize: number;
}

export const StoredFileRef = builder.objectRef<StoredFile>("StoredFile").implement({
  description: "A file beside a sample's or insertion's main artifact, served at /artifacts/<sha256>.",
  fields: (t) => ({
    role: t.exposeString("role", { description: "dicom | preview | ground-truth | segmentation" }),
    sha256: t.exposeString("sha256"),
    mediaType: t.exposeString("mediaType"),
    byteSize: t.exposeInt("byteSize"),
    url: t.string({ description: "URL of the file on this service: /artifacts/<sha256>, signed (short-lived) so that a browser's <img src> needs no header.", resolve: (f, _args, ctx) => artifactUrl(ctx, f.sha256) }),
  }),
});

const filesOf = (value: unknown): StoredFile[] => (Array.isArray(value) ? (value as StoredFile[]) : []);

builder.prismaObjectFields("Sample", (t) => ({
  files: t.field({
    type: [StoredFileRef],
    description: "Files beside the main artifact; medical samples: the DICOM image, ground-truth JSON and DICOM SEG.",
    select: { files: true },
    resolve: (sample) => filesOf(sample.files),
  }),
}));

builder.prismaNode("ReferenceScan", {
  id: { field: "id" },
  description: "An uploaded scan as stored: de-identified (DICOM, PS3.15 basic profile) or without metadata (PNG/JPEG).",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    kind: t.expose("kind", { type: ReferenceScanKindEnum }),
    domain: t.expose("domain", { type: DomainEnum, description: "MEDICAL for scans (every DICOM); AUTOMOTIVE for camera frames, which hazards are inserted into." }),
    modality: t.exposeString("modality", { nullable: true }),
    rows: t.exposeInt("rows"),
    columns: t.exposeInt("columns"),
    studyInstanceUid: t.exposeString("studyInstanceUid", { nullable: true, description: "After de-identification." }),
    seriesInstanceUid: t.exposeString("seriesInstanceUid", { nullable: true }),
    sopInstanceUid: t.exposeString("sopInstanceUid", { nullable: true }),
    sopClassUid: t.exposeString("sopClassUid", { nullable: true }),
    transferSyntaxUid: t.exposeString("transferSyntaxUid", { nullable: true }),
    deidentification: t.expose("deidentification", { type: "JSON", nullable: true, description: "What de-identification removed, emptied or replaced (names only)." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    artifact: t.relation("artifact"),
    insertions: t.relatedConnection("insertions", { cursor: "id", query: { orderBy: { createdAt: "asc" } }, totalCount: true }),
    hazardInsertions: t.relatedConnection("hazardInsertions", { cursor: "id", query: { orderBy: { createdAt: "asc" } }, totalCount: true }),
  }),
});

builder.prismaNode("HazardInsertion", {
  id: { field: "id" },
  description: "A road hazard inpainted into a camera frame; `artifact` is the full-resolution PNG (generation record in a text chunk), unchanged outside the box and its feathered band.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    box: t.expose("box", { type: "JSON", description: "The requested box in frame pixels { x, y, width, height }: the ground-truth box." }),
    parameters: t.expose("parameters", { type: "JSON", description: "The condition values given to the model; its box fields are fractions of the crop window." }),
    groundTruth: t.expose("groundTruth", { type: "JSON", description: "{ class, box (frame pixels), frame: { width, height } }" }),
    provenance: t.expose("provenance", { type: "JSON", description: "`record` as embedded in the PNG (hazardInsertion: source frame sha256, crop window, scale, feather); `recordJson` its exact text." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    referenceScan: t.relation("referenceScan"),
    artifact: t.relation("artifact"),
    files: t.field({ type: [StoredFileRef], description: "Ground-truth JSON.", select: { files: true }, resolve: (i) => filesOf(i.files) }),
  }),
});

builder.prismaNode("PathologyInsertion", {
  id: { field: "id" },
  description: "A pathology inpainted into a reference scan; `artifact` is the DICOM, referencing the scan via Source Image Sequence.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    region: t.expose("region", { type: "JSON" }),
    parameters: t.expose("parameters", { type: "JSON" }),
    provenance: t.expose("provenance", { type: "JSON", description: "`record` as embedded in the DICOM; `recordJson` its exact text." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    referenceScan: t.relation("referenceScan"),
    artifact: t.relation("artifact"),
    files: t.field({ type: [StoredFileRef], description: "PNG preview, ground-truth JSON, DICOM SEG.", select: { files: true }, resolve: (i) => filesOf(i.files) }),
  }),
});

builder.queryFields((t) => ({
  referenceScan: t.prismaField({
    type: "ReferenceScan",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const scan = await ctx.db.prisma.referenceScan.findUnique({ ...query, where: { id: decodeGlobalId("ReferenceScan", args.id) } });
      if (!scan) throw new NotFoundError("reference scan", args.id.id);
      return scan;
    },
  }),
  referenceScans: t.prismaConnection(
    {
      type: "ReferenceScan",
      cursor: "id",
      description: "Uploaded reference scans, newest first.",
      resolve: (query, _root, _args, ctx) => ctx.db.prisma.referenceScan.findMany({ ...query, orderBy: [{ createdAt: "desc" }, { id: "asc" }] }),
      totalCount: (_connection, _args, ctx) => ctx.db.prisma.referenceScan.count(),
    },
    {},
  ),
  hazardInsertion: t.prismaField({
    type: "HazardInsertion",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const insertion = await ctx.db.prisma.hazardInsertion.findUnique({ ...query, where: { id: decodeGlobalId("HazardInsertion", args.id) } });
      if (!insertion) throw new NotFoundError("hazard insertion", args.id.id);
      return insertion;
    },
  }),
  pathologyInsertion: t.prismaField({
    type: "PathologyInsertion",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const insertion = await ctx.db.prisma.pathologyInsertion.findUnique({ ...query, where: { id: decodeGlobalId("PathologyInsertion", args.id) } });
      if (!insertion) throw new NotFoundError("pathology insertion", args.id.id);
      return insertion;
    },
  }),
}));

const RegionBoxInput = builder.inputType("RegionBoxInput", {
  description: "A box in scan or frame pixels: x = first column, y = first row.",
  fields: (t) => ({ x: t.int({ required: true }), y: t.int({ required: true }), width: t.int({ required: true }), height: t.int({ required: true }) }),
});

const HazardPlacementInput = builder.inputType("HazardPlacementInput", {
  description:
    "Where a hazard stands on the road: the frame column of its contact point (x) or its offset from the camera's axis in metres (lateralM), and its distance in metres or the contact point's row (below the horizon).",
  fields: (t) => ({ x: t.int({ required: false }), lateralM: t.float({ required: false }), distanceM: t.float({ required: false }), row: t.int({ required: false }) }),
});

export const CameraDescriptionInput = builder.inputType("CameraDescriptionInput", {
  description:
    "A level pinhole camera over a flat road: the horizon's frame row, the camera's height above the road (m) and its focal length (frame pixels); optionally the road's homography to the frame (groundToImage, row-major 3×3 from metres across and ahead to pixels), which then places objects.",
  fields: (t) => ({
    horizonRow: t.float({ required: true }),
    heightM: t.float({ required: true }),
    focalLengthPx: t.float({ required: true }),
    groundToImage: t.floatList({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  uploadReferenceScan: t.prismaField({
    type: "ReferenceScan",
    description:
      "Uploads a DICOM, PNG or JPEG scan or camera frame (multipart request). DICOM is de-identified before anything is stored; the uploaded bytes are never stored. `domain` (default MEDICAL) says whose data it is: AUTOMOTIVE for a PNG/JPEG camera frame to insert hazards into; a key needs that domain's scope.",
    args: { file: t.arg({ type: "File", required: true }), domain: t.arg({ type: DomainEnum, required: false }) },
    errors: { types: [UploadRefusedError, ValidationError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const scan = await ctx.referenceScans.upload(args.file, { domain: args.domain ?? null });
      return ctx.db.prisma.referenceScan.findUniqueOrThrow({ ...query, where: { id: scan.id } });
    },
  }),
  insertHazard: t.prismaField({
    type: "HazardInsertion",
    description:
      "Inpaints a road hazard into an AUTOMOTIVE camera frame at full resolution: a square window around `box` is scaled to the model's grid, the box regenerated with the hazard condition, matched to the frame's colours around it and blended back over a `feather`-pixel band; every pixel beyond the box and that band stays the source's exactly. The ground truth is the box. Runs synchronously.",
    args: {
      referenceScanId: t.arg.globalID({ required: true }),
      box: t.arg({ type: RegionBoxInput, required: false, description: "The hazard's box in frame pixels; or give placement and camera." }),
      placement: t.arg({ type: HazardPlacementInput, required: false, description: "Stand the hazard on the road: its box follows from the camera and the class's typical size (TYPICAL_SIZE_M)." }),
      camera: t.arg({ type: CameraDescriptionInput, required: false, description: "The frame's camera for a placement; without it, the camera its reference sets store for it (the frame's own, else the set's)." }),
      parameters: t.arg({ type: "JSON", required: true, description: 'Condition values, e.g. { "hazard": "animal", "weather": "fog", "timeOfDay": "dusk" }; other categorical fields default to their first value.' }),
      model: t.arg.string({ required: false, description: "An automotive pixel-space model package (default road-hazards)." }),
      sampler: t.arg({ type: SamplerEnum, required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.sampler }),
      steps: t.arg.int({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.steps }),
      guidance: t.arg.float({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.guidance }),
      seed: t.arg.int({ required: true }),
      feather: t.arg.int({ required: false, description: "Blend band around the box, in frame pixels (default 3)." }),
      executionProvider: t.arg.string({ required: false }),
    },
    errors: { types: [ValidationError, NotFoundError, InsertionRefusedError, ExecutionProviderUnavailableError] },
    resolve: async (query, _root, args, ctx) => {
      const { box, parameters, referenceScanId, ...settings } = args;
      const insertion = await ctx.referenceScans.insertHazard({ ...settings, box, parameters: parseHazardParameters(parameters), referenceScanId: decodeGlobalId("ReferenceScan", referenceScanId) });
      return ctx.db.prisma.hazardInsertion.findUniqueOrThrow({ ...query, where: { id: insertion.id } });
    },
  }),
  insertPathology: t.prismaField({
    type: "PathologyInsertion",
    description:
      "Inpaints a pathology into a DICOM reference scan inside a region (box, or a PNG mask of the scan's size, white = region): only the lesion's disc (with a margin for its rim) within the region is regenerated and blended in over a `feather`-pixel band; pixels beyond the region and that band stay the source's exactly. Runs synchronously.",
    args: {
      referenceScanId: t.arg.globalID({ required: true }),
      box: t.arg({ type: RegionBoxInput, required: false }),
      mask: t.arg({ type: "File", required: false }),
      parameters: t.arg({ type: "JSON", required: true, description: 'Condition values, e.g. { "pathology": "tumour", "lesionContrast": 0.8 }; the lesion centre and radius default to the region.' }),
      model: t.arg.string({ required: false, description: "A medical model package (default brain-mri)." }),
      sampler: t.arg({ type: SamplerEnum, required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.sampler }),
      steps: t.arg.int({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.steps }),
      guidance: t.arg.float({ required: false, description: SAMPLING_DEFAULT_DESCRIPTIONS.guidance }),
      seed: t.arg.int({ required: true }),
      strength: t.arg.float({ required: false, description: "Share of the schedule re-run inside the region (default 1)." }),
      feather: t.arg.int({ required: false, description: "Blend band around the regenerated lesion, in scan pixels (default 3)." }),
      executionProvider: t.arg.string({ required: false }),
    },
    errors: { types: [ValidationError, NotFoundError, InsertionRefusedError, ExecutionProviderUnavailableError] },
    resolve: async (query, _root, args, ctx) => {
      const { box, mask, parameters, ...settings } = args;
      const insertion = await ctx.referenceScans.insertPathology({
        ...parseInsertionInput({ box, mask, parameters }),
        ...settings,
        referenceScanId: decodeGlobalId("ReferenceScan", args.referenceScanId),
      });
      return ctx.db.prisma.pathologyInsertion.findUniqueOrThrow({ ...query, where: { id: insertion.id } });
    },
  }),
}));
