// Model packages: the shipped condition-vector packages (recorded on first use) and users' Optimum exports
// registered by path.
import { ValidationError } from "../../errors.ts";
import { ModelPackageError } from "../../models/index.ts";
import { builder } from "../builder.ts";
import { ErrorInterface } from "./errors.ts";
import { DomainEnum } from "./scenarios.ts";

builder.objectType(ModelPackageError, {
  name: "ModelPackageError",
  description:
    "The model package cannot be used as given: not-found, missing-file (a missing part), invalid-manifest (rareforge.json, a prompt template naming unknown fields, an unsupported scheduler config), incompatible-parts (UNet channels that fit neither layout, a hidden-state width the UNet does not take), tokenizer (it does not load), unloadable-part (an ONNX file onnxruntime cannot load), hash-mismatch, undeclared-file, invalid-name (a package of that name is installed).",
  interfaces: [ErrorInterface],
  fields: (t) => ({ code: t.exposeString("code") }),
});

builder.prismaNode("ModelPackage", {
  id: { field: "id" },
  select: { id: true },
  description: "A diffusion model package as recorded: a shipped condition-vector package (model.json) or a users' Optimum export (rareforge.json).",
  fields: (t) => ({
    uuid: t.exposeString("id"),
    name: t.exposeString("name"),
    version: t.exposeString("version"),
    domain: t.expose("domain", { type: DomainEnum }),
    kind: t.string({
      description: "condition | optimum",
      select: { manifest: true },
      resolve: (m) => ((m.manifest as { provenance?: { kind?: string } }).provenance?.kind === "optimum-export" ? "optimum" : "condition"),
    }),
    promptTemplate: t.field({
      type: "JSON",
      nullable: true,
      description: "Optimum exports: { template, negative }, filled with each sample's parameters.",
      select: { manifest: true },
      resolve: (m) => (m.manifest as { provenance?: { prompt?: unknown } }).provenance?.prompt ?? null,
    }),
    manifest: t.expose("manifest", { type: "JSON", description: "The rareforge.model/1 manifest (for an Optimum export, its view: parameters as the condition layout)." }),
    fileHashes: t.expose("fileHashes", { type: "JSON", description: "File name -> sha256, checked at every load." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.mutationFields((t) => ({
  registerModel: t.prismaField({
    type: "ModelPackage",
    description:
      "Registers a users' Optimum ONNX export (optimum-cli export onnx --task text-to-image, or an inpainting pipeline) unchanged: a directory inside the models directory (RAREFORGE_MODELS_DIR), relative to it or absolute, with `manifest` (rareforge.json: name, version, domain, license, image size, parameters with their values, prompt template and negative prompt, optional labels and defaults) or a rareforge.json beside the export. The export is checked (parts, scheduler config, template), hashed, and installed as models/<name>/; scenarios then name it as their model.",
    args: {
      path: t.arg.string({ required: true }),
      manifest: t.arg({ type: "JSON", required: false }),
    },
    errors: { types: [ValidationError, ModelPackageError] },
    resolve: async (query, _root, args, ctx) => {
      const { rowId } = await ctx.jobs.registerModel({ path: args.path, ...(args.manifest != null ? { manifest: args.manifest } : {}) });
      return ctx.db.prisma.modelPackage.findUniqueOrThrow({ ...query, where: { id: rowId } });
    },
  }),
}));
