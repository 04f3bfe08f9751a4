// Validation suites: definitions, runs, criteria, paired tests, JUnit. What other modules may use.
export { SUITE_LIMITS, CRITERION_KINDS, suiteSpecSchema, parseSuiteSpec, inCondition, describeCondition, type CriterionKind, type SuiteSpec, type SuiteSpecInput, type SuiteScenario, type SuiteCondition, type SuiteIssue } from "./spec.ts";
export { parseSuiteYaml, loadSuiteFile, loadSuiteLibrary, SuiteLibraryError, MAX_SUITE_FILE_BYTES } from "./library.ts";
export { exactMcNemar, holmAdjust, binomialHalfLowerTail, type PairedCounts, type McNemarResult } from "./statistics.ts";
export { evaluateSuite, HARDEST_SAMPLES, type SuiteReport, type ScenarioReport, type ConditionReport, type CriterionResult, type CriterionStatus, type PairedComparison, type SuiteSample, type ScenarioEvidence, type StoredOutcome } from "./evaluate.ts";
export { junitXml, markdownSummary, jsonReport, exitCodeOf, galleryUrl, type SuiteRunSummary } from "./outputs.ts";
export { SuiteInputError, SuiteRunError } from "./errors.ts";
export { SuiteService, consecutiveRanges, type SuiteRunRequest, type SuiteImportOutcome } from "./service.ts";
