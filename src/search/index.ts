// Failure search over scenario parameters: what other modules may use.
export { SearchInputError } from "./errors.ts";
export { searchSpaceFromScenario, checkSpace, type SearchSpace, type SearchDimension, type Scaling, type Conditioning, type CaseRange } from "./space.ts";
export {
  crossEntropySearch,
  SEARCH_DEFAULTS,
  randomSearch,
  haltonSearch,
  drawFromDistribution,
  type EvaluateBatch,
  type SearchOutcome,
  type SearchResult,
  type SearchEvaluation,
  type IterationSummary,
  type SearchOptions,
  type CrossEntropyOptions,
  type LearnedDistribution,
  type LearnedDimension,
  type Proposal,
} from "./search.ts";
export { nominalFailureRate, wilsonInterval, NOMINAL_METHOD, type NominalFailureRate, type WeightedSample, type IterationProposal } from "./nominal.ts";
export { distributionToScenarioSpec } from "./export.ts";
export { SearchService, searchFailureRate, searchNominalFailureRate, searchFailuresWhere, type SearchIterationRecord } from "./service.ts";
