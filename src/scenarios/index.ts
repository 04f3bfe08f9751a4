export {
  DOMAINS,
  DISTRIBUTION_KINDS,
  GIVEN_CASE_KINDS,
  SPEC_LIMITS,
  parseScenarioSpec,
  validateScenarioSpec,
  scenarioSpecSchema,
  ScenarioValidationError,
  type Domain,
  type Distribution,
  type GivenCase,
  type DistributionKind,
  type ParameterValue,
  type ScenarioSpec,
  type ScenarioSpecInput,
  type SpecIssue,
  type SpecParseResult,
  drawableValues,
  type BackgroundSpec,
  backgroundParameters,
  BACKGROUND_FRAME_PARAMETER,
} from "./spec.ts";
export {
  drawParameters,
  sweepGridSize,
  uniformAt,
  radicalInverse,
  truncatedNormalAt,
  truncatedNormalLogDensity,
  truncatedNormalLogMass,
  logDensity,
  normalCdf,
  normalQuantile,
  type DrawnParameters,
} from "./draw.ts";
export { parseScenarioYaml, loadScenarioLibrary, loadScenarioFile, findLibraryScenario, LibraryError, MAX_YAML_ALIASES, type LibraryEntry } from "./library.ts";
export { checkScenarioAgainstModel, boundsOf, type ConditionLayout } from "./compatibility.ts";
export { canonicalSpecHash, canonicalJsonHash } from "./hash.ts";
export { ScenarioService, MAX_PREVIEW_COUNT, type ImportOutcome, type BackgroundCatalog } from "./service.ts";
export { directoryModelCatalog, type ModelCatalog } from "./model-catalog.ts";
