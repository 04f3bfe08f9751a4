// The gallery: static files (plain ES modules, no build step) served under /gallery/, plus the browser build
// of dicom-parser from node_modules for DICOM samples. The pages talk to /graphql only.
import type http from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const GALLERY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "static");
const VENDOR_FILES: Record<string, string> = {
  "vendor/dicomParser.min.js": fileURLToPath(new URL("../../node_modules/dicom-parser/dist/dicomParser.min.js", import.meta.url)),
};
const MEDIA_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * The pages' own files only: no inline or foreign script can run where the API key is kept (sessionStorage), no
 * other site can frame the sign-in form, and the form can never be submitted natively (the key would land in a URL).
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Serves /gallery/<file>; `relative` is the path after /gallery/. Anything outside the gallery folder is 404. */
export async function serveGallery(req: http.IncomingMessage, res: http.ServerResponse, relative: string): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" });
    return void res.end();
  }
  const name = relative === "" ? "index.html" : relative;
  const file = VENDOR_FILES[name] ?? path.join(GALLERY_DIR, path.normalize(name));
  const info = file.startsWith(GALLERY_DIR + path.sep) || VENDOR_FILES[name] ? await stat(file).catch(() => null) : null;
  if (!info?.isFile()) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    return void res.end(`no gallery file ${name}`);
  }
  res.writeHead(200, {
    "content-type": MEDIA_TYPES[path.extname(file)] ?? "application/octet-stream",
    "content-length": info.size,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": CONTENT_SECURITY_POLICY,
  });
  if (req.method === "HEAD") return void res.end();
  await new Promise<void>((resolve, reject) => createReadStream(file).on("error", reject).pipe(res).on("finish", resolve).on("error", reject));
}
