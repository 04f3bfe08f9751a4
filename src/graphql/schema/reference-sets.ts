// Reference sets: named, tagged groups of camera frames that background scenarios insert hazards into.
import { AlreadyExistsError, NotFoundError, ValidationError } from "../../errors.ts";
import { builder } from "../builder.ts";
import { decodeGlobalId } from "./global-ids.ts";
import { DomainEnum } from "./scenarios.ts";
import { CameraDescriptionInput } from "./uploads.ts";

builder.prismaObject("FrameScore", {
  description: "What a detector saw in the untouched camera frame (scored once per frame and detector beside a background job): the \"before\" to its samples' context detections.",
  fields: (t) => ({
    detections: t.expose("detections", { type: "JSON", description: "[{ className, confidence, x1, y1, x2, y2 }] in frame pixels." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    detector: t.relation("detectorPackage"),
  }),
});

builder.prismaObjectFields("ReferenceScan", (t) => ({
  frameScores: t.relation("frameScores", { description: "Detectors' findings in this frame as uploaded (camera frames used by background jobs with a detector)." }),
}));

builder.prismaObject("ReferenceSetFrame", {
  description: "A frame of a reference set, at its position (a job draws frame k of this order).",
  fields: (t) => ({
    position: t.exposeInt("position"),
    camera: t.expose("camera", { type: "JSON", nullable: true, description: "This frame's own camera; null: the set's applies." }),
    width: t.int({ description: "Frame columns.", select: { referenceScan: { select: { columns: true } } }, resolve: (f) => f.referenceScan.columns }),
    height: t.int({ description: "Frame rows.", select: { referenceScan: { select: { rows: true } } }, resolve: (f) => f.referenceScan.rows }),
    addedAt: t.expose("addedAt", { type: "DateTime" }),
    referenceScan: t.relation("referenceScan"),
  }),
});

builder.prismaNode("ReferenceSet", {
  id: { field: "id" },
  description: "A named, tagged group of AUTOMOTIVE camera frames; a scenario's `background.referenceSet` names it.",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    name: t.exposeString("name"),
    domain: t.expose("domain", { type: DomainEnum }),
    tags: t.exposeStringList("tags"),
    camera: t.expose("camera", { type: "JSON", nullable: true, description: "{ horizonRow, heightM, focalLengthPx, groundToImage? }: the camera of frames without their own." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    frames: t.relation("frames", { query: { orderBy: { position: "asc" } } }),
  }),
});

const ReferenceSetFrameInput = builder.inputType("ReferenceSetFrameInput", {
  fields: (t) => ({
    referenceScanId: t.globalID({ required: true, description: "An AUTOMOTIVE PNG/JPEG reference upload (ReferenceScan id)." }),
    camera: t.field({ type: CameraDescriptionInput, required: false, description: "This frame's camera, overriding the set's." }),
  }),
});

builder.queryFields((t) => ({
  referenceSet: t.prismaField({
    type: "ReferenceSet",
    args: { id: t.arg.globalID({ required: true }) },
    errors: { types: [NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const set = await ctx.db.prisma.referenceSet.findUnique({ ...query, where: { id: decodeGlobalId("ReferenceSet", args.id) } });
      if (!set) throw new NotFoundError("reference set", args.id.id);
      return set;
    },
  }),
  referenceSets: t.prismaConnection(
    {
      type: "ReferenceSet",
      cursor: "id",
      description: "Reference sets by name.",
      resolve: (query, _root, _args, ctx) => ctx.db.prisma.referenceSet.findMany({ ...query, orderBy: [{ name: "asc" }, { id: "asc" }] }),
      totalCount: (_connection, _args, ctx) => ctx.db.prisma.referenceSet.count(),
    },
    {},
  ),
}));

builder.mutationFields((t) => ({
  createReferenceSet: t.prismaField({
    type: "ReferenceSet",
    description: "Creates an empty AUTOMOTIVE reference set; `camera` applies to its frames without their own.",
    args: {
      name: t.arg.string({ required: true, description: "Lowercase words joined by hyphens; unique." }),
      tags: t.arg.stringList({ required: false }),
      camera: t.arg({ type: CameraDescriptionInput, required: false }),
    },
    errors: { types: [ValidationError, AlreadyExistsError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const set = await ctx.referenceSets.create({ name: args.name, tags: args.tags ?? [], camera: args.camera ?? null });
      return ctx.db.prisma.referenceSet.findUniqueOrThrow({ ...query, where: { id: set.id } });
    },
  }),
  addReferenceSetFrames: t.prismaField({
    type: "ReferenceSet",
    description: "Appends frames (AUTOMOTIVE PNG/JPEG uploads not yet in the set), all or none.",
    args: { setId: t.arg.globalID({ required: true }), frames: t.arg({ type: [ReferenceSetFrameInput], required: true }) },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeGlobalId("ReferenceSet", args.setId);
      await ctx.referenceSets.addFrames(id, args.frames.map((f) => ({ referenceScanId: decodeGlobalId("ReferenceScan", f.referenceScanId), camera: f.camera ?? null })));
      return ctx.db.prisma.referenceSet.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  removeReferenceSetFrames: t.prismaField({
    type: "ReferenceSet",
    description: "Removes frames from the set (the uploads stay); the others keep their order.",
    args: { setId: t.arg.globalID({ required: true }), referenceScanIds: t.arg.globalIDList({ required: true }) },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeGlobalId("ReferenceSet", args.setId);
      await ctx.referenceSets.removeFrames(id, args.referenceScanIds.map((scan) => decodeGlobalId("ReferenceScan", scan)));
      return ctx.db.prisma.referenceSet.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  setReferenceSetCamera: t.prismaField({
    type: "ReferenceSet",
    description: "Sets (or with camera null clears) the camera of the set, or of one of its frames when referenceScanId is given.",
    args: { setId: t.arg.globalID({ required: true }), camera: t.arg({ type: CameraDescriptionInput, required: false }), referenceScanId: t.arg.globalID({ required: false }) },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeGlobalId("ReferenceSet", args.setId);
      await ctx.referenceSets.setCamera(id, args.camera ?? null, args.referenceScanId ? decodeGlobalId("ReferenceScan", args.referenceScanId) : null);
      return ctx.db.prisma.referenceSet.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
}));
