// PACS integration over DICOMweb: endpoints from configuration, the client, and the import/send service.
export { DicomWebClient, multipartBoundary, multipartRelated, type DicomJson, type StowResult } from "./client.ts";
export { parsePacsEndpoints, PacsConfigError, PACS_ENDPOINT_NAME, type PacsEndpoint } from "./endpoints/index.ts";
export { PacsError, PACS_ERROR_CODES, type PacsErrorCode } from "./errors.ts";
export { PacsService, pacsSettings, syntheticMarkers, type PacsImportResult, type PacsSendResult, type PacsSettings, type SendTarget } from "./service.ts";
