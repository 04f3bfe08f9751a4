// GET /exports/<uuid>.zip: the export's zip, built while it downloads (chunked, no length known up front).
import type http from "node:http";
import { currentCaller, type AuditLog } from "../access/index.ts";
import type { Database } from "../db/index.ts";
import type { ArtifactStore } from "../storage/index.ts";
import { streamExport } from "./run.ts";

const EXPORT_PATH = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.zip$/i;

export async function serveExportZip(req: http.IncomingMessage, res: http.ServerResponse, name: string, services: { db: Database; store: ArtifactStore; audit: AuditLog }): Promise<void> {
  const sendJson = (status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.method !== "GET") {
    res.writeHead(405, { allow: "GET" });
    return void res.end();
  }
  const id = EXPORT_PATH.exec(name)?.[1]?.toLowerCase();
  const row = id ? await services.db.prisma.datasetExport.findUnique({ where: { id }, select: { id: true, format: true, domains: true } }) : null;
  if (!row) return sendJson(404, { error: `no export ${name}` });
  const caller = currentCaller();
  if (caller && row.domains.includes("MEDICAL"))
    await services.audit.record({ caller, kind: "download", operation: "GET /exports", targetIds: [row.id], outcome: "OK", domain: "MEDICAL" });
  res.writeHead(200, {
    "content-type": "application/zip",
    "content-disposition": `attachment; filename="rareforge-${row.format.toLowerCase()}-${row.id}.zip"`,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  try {
    await streamExport(services.db, services.store, row.id, res);
  } catch {
    // Headers are gone: the status is recorded on the export (FAILED, with the reason); cut the response.
    res.destroy();
  }
}
