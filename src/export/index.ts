export { serveExportZip } from "./http.ts";
export { createExport, streamExport, type ExportRequest, type StreamOptions, type StreamSummary } from "./run.ts";
export { EXPORT_FORMATS, clipBox, yoloLabelLines, exportUids, type ExportFormat } from "./formats.ts";
export { EXPORTABLE_OUTCOMES, parseExportFilter, sampleWhere, type ExportFilter, type ExportableOutcome } from "./filter.ts";
export { DEFAULT_SPLIT, SPLITS, parseSplit, splitOf, type SplitName, type SplitSpec } from "./split.ts";
export { manifestClasses, type ExportModel } from "./models.ts";
export { ExportService } from "./service.ts";
