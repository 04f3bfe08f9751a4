// Dependency rules of src/ (checked by `npm test`, see README "Layout"). Layers, top to bottom:
//   entry points   app.ts, cli.ts, services.ts, commands/, graphql/, gallery/
//   services       access/, jobs/, search/, suites/, export/, uploads/, and the service modules of detection/ and scenarios/
//   generation/    one batch of samples end to end
//   engines        diffusion/ (sampling), detection/ (detectors, critics, scoring)
//   domain         models/, scenarios/, imaging/
//   foundations    runtime/ (onnxruntime), provenance/, storage/, db/
//   shared         config.ts, errors.ts, logger.ts, paths.ts, version.ts, generated/
// A module imports only its own layer's folder or lower layers, another folder only through its index.ts,
// the database only from service modules, and onnxruntime only from runtime/. A folder's index.ts is its
// public face (it may re-export the folder's service), so the layer rules judge the modules behind it.
const ENTRY = "^src/(app|cli|services)\\.ts$|^src/(commands|graphql|gallery)/";
const SERVICES = "^src/(access|jobs|search|suites|export|uploads)/|^src/detection/(service|reports|rows)\\.ts$|^src/scenarios/(service|model-catalog)\\.ts$";
const ENGINES_AND_BELOW = "^src/(generation|diffusion|models|imaging|runtime|provenance|storage)/";
const DETECTION_CORE = "^src/detection/(?!(service|reports|rows|index)\\.ts$)";
const SCENARIOS_CORE = "^src/scenarios/(?!(service|model-catalog|index)\\.ts$)";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "entry-points-on-top",
      comment: "Only entry points (HTTP, GraphQL, CLI) import entry points: services and engines never reach up into them.",
      severity: "error",
      from: { pathNot: ENTRY },
      to: { path: ENTRY },
    },
    {
      name: "graphql-and-cli-are-peers",
      comment: "GraphQL resolvers and CLI commands both translate to the same services; neither imports the other.",
      severity: "error",
      from: { path: "^src/graphql/" },
      to: { path: "^src/commands/" },
    },
    {
      name: "engines-below-services",
      comment: "generation, diffusion, detection (core), models, scenarios (core), imaging and the foundations never import a service.",
      severity: "error",
      from: { path: [ENGINES_AND_BELOW, DETECTION_CORE, SCENARIOS_CORE] },
      to: { path: SERVICES },
    },
    {
      name: "generation-below-jobs",
      comment: "Only services and entry points run generation; engines and the domain below it never import it.",
      severity: "error",
      from: { path: ["^src/(diffusion|models|imaging|runtime|provenance|storage)/", DETECTION_CORE, SCENARIOS_CORE] },
      to: { path: "^src/generation/" },
    },
    {
      name: "engines-are-independent",
      comment: "Sampling (diffusion) and scoring (detection) do not depend on each other; both build on imaging, models and runtime.",
      severity: "error",
      from: { path: "^src/diffusion/" },
      to: { path: "^src/detection/" },
    },
    {
      name: "detection-without-diffusion",
      severity: "error",
      from: { path: "^src/detection/" },
      to: { path: "^src/diffusion/" },
    },
    {
      name: "domain-below-engines",
      comment: "models, scenarios (core) and imaging never import the engines.",
      severity: "error",
      from: { path: ["^src/(models|imaging)/", SCENARIOS_CORE] },
      to: { path: "^src/(diffusion|detection)/" },
    },
    {
      name: "foundations-at-the-bottom",
      comment: "runtime, provenance and storage import only shared modules (and provenance nothing but version.ts).",
      severity: "error",
      from: { path: "^src/(runtime|provenance|storage)/" },
      to: { path: "^src/(?!(runtime|provenance|storage)/)[^/]+/" },
    },
    {
      name: "database-only-in-services",
      comment: "Engines, generation and the domain never touch the database: services read and write rows.",
      severity: "error",
      from: { path: [ENGINES_AND_BELOW, DETECTION_CORE, SCENARIOS_CORE] },
      to: { path: "^src/(db|generated)/" },
    },
    {
      name: "one-module-imports-onnxruntime",
      comment: "src/runtime/onnx.ts is the only importer of onnxruntime-node.",
      severity: "error",
      from: { pathNot: "^src/runtime/onnx\\.ts$" },
      to: { path: "onnxruntime-node" },
    },
    {
      name: "through-the-index",
      comment: "Another folder is imported through its index.ts (a sub-folder's index.ts is public too); everything else in it is private.",
      severity: "error",
      from: { path: "^src/([^/]+)/" },
      to: { path: "^src/[^/]+/", pathNot: ["^src/$1/", "^src/[^/]+/index\\.ts$", "^src/[^/]+/[^/]+/index\\.ts$", "^src/generated/"] },
    },
    {
      name: "root-modules-through-the-index",
      severity: "error",
      from: { path: "^src/[^/]+\\.ts$" },
      to: { path: "^src/[^/]+/", pathNot: ["^src/[^/]+/index\\.ts$", "^src/[^/]+/[^/]+/index\\.ts$", "^src/generated/"] },
    },
    {
      name: "no-own-index",
      comment: "Inside a folder, import the module itself, not the folder's index (a cycle through the index).",
      severity: "error",
      from: { path: "^src/([^/]+)/" },
      to: { path: "^src/$1/index\\.ts$" },
    },
    {
      name: "no-circular",
      comment: "Import cycles between modules.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js", ".mjs", ".cjs", ".json"] },
  },
};
