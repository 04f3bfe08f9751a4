// Dataset exports service: creates exports (typed refusals, nothing recorded on any) and streams their zips.
// The zip is never stored: /exports/<id>.zip builds it while it downloads, from the export's frozen filter.
import type { Writable } from "node:stream";
import type { Database } from "../db/index.ts";
import { createExport, streamExport, type ExportRequest, type StreamOptions, type StreamSummary } from "./run.ts";
import type { ArtifactStore } from "../storage/index.ts";

export class ExportService {
  constructor(
    private readonly db: Database,
    private readonly store: ArtifactStore,
  ) {}

  create(request: ExportRequest) {
    return createExport(this.db, request);
  }

  stream(exportId: string, output: Writable, options: StreamOptions = {}): Promise<StreamSummary> {
    return streamExport(this.db, this.store, exportId, output, options);
  }

  find(exportId: string) {
    return this.db.prisma.datasetExport.findUnique({ where: { id: exportId } });
  }
}
