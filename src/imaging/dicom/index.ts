export { DicomError, DICOM_ERROR_CODES, isDicomError, type DicomErrorCode, type DicomErrorDetails } from "./errors.ts";
export { readDicom, type DicomImage, type DicomSummary, type ReadDicomOptions, type PhotometricInterpretation } from "./read.ts";
export { describeTransferSyntax, lookupTransferSyntax, type TransferSyntax } from "./transfer-syntax.ts";
