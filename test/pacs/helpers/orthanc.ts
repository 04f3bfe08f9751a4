// A real Orthanc server (Debian's orthanc + orthanc-dicomweb) for the PACS tests: its own temporary storage,
// a free loopback port, HTTP basic authentication, DICOM networking off. Tests skip with a message naming
// the packages where the binary or the plugin is absent.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pydicomPython } from "../../imaging/helpers/dicom-tools.ts";

const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
const binary = ["/usr/sbin/Orthanc", "/usr/bin/Orthanc"].find((candidate) => existsSync(candidate)) ?? null;

export const orthancAvailable = binary !== null && existsSync(DICOMWEB_PLUGIN);
export const SKIP_ORTHANC_MESSAGE = "skipped: Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb; .ci/apt-packages.txt lists them)";
if (!orthancAvailable) console.warn(SKIP_ORTHANC_MESSAGE);

export const ORTHANC_USER = "rareforge";
export const ORTHANC_PASSWORD = "orthanc-test-password";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export class OrthancServer {
  private process: ChildProcess | null = null;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<OrthancServer> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rareforge-orthanc-"));
    mkdirSync(path.join(dir, "storage"));
    const server = new OrthancServer(dir, await freePort());
    writeFileSync(
      path.join(dir, "orthanc.json"),
      JSON.stringify({
        Name: "rareforge-test",
        StorageDirectory: path.join(dir, "storage"),
        IndexDirectory: path.join(dir, "storage"),
        HttpPort: server.port,
        DicomServerEnabled: false,
        RemoteAccessAllowed: false,
        AuthenticationEnabled: true,
        RegisteredUsers: { [ORTHANC_USER]: ORTHANC_PASSWORD },
        Plugins: [DICOMWEB_PLUGIN],
        DicomWeb: { Enable: true, Root: "/dicom-web/" },
      }),
    );
    await server.resume();
    return server;
  }

  get dicomWebUrl(): string {
    return `http://127.0.0.1:${this.port}/dicom-web`;
  }

  /** Starts (again) on the same storage and port; resolves once the REST API answers. */
  async resume(): Promise<void> {
    if (this.process) return;
    const child = spawn(binary!, [path.join(this.dir, "orthanc.json")], { stdio: "ignore" });
    this.process = child;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`Orthanc exited with code ${child.exitCode} at start`);
      try {
        const response = await this.rest("/system");
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("Orthanc did not answer within 30 s");
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = null;
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  rest(pathname: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Basic ${Buffer.from(`${ORTHANC_USER}:${ORTHANC_PASSWORD}`).toString("base64")}`);
    return fetch(`http://127.0.0.1:${this.port}${pathname}`, { ...init, headers });
  }

  async restJson<T>(pathname: string, init: RequestInit = {}): Promise<T> {
    const response = await this.rest(pathname, init);
    if (!response.ok) throw new Error(`Orthanc ${pathname}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** Stores a file through Orthanc's own REST API (as another modality would). */
  async upload(bytes: Uint8Array): Promise<void> {
    const answer = await this.restJson<{ Status: string }>("/instances", { method: "POST", body: new Uint8Array(bytes) });
    if (answer.Status !== "Success" && answer.Status !== "AlreadyStored") throw new Error(`Orthanc refused an upload: ${answer.Status}`);
  }
}

/** pydicom's reading of a file, or null where python3-pydicom is absent (dicom-tools.ts says so once). */
export function readWithPydicom(file: string): Record<string, string> | null {
  const script = [
    "import json, sys, pydicom",
    "ds = pydicom.dcmread(sys.argv[1])",
    // by tag: pydicom 2.3's dictionary predates the Synthetic Data keyword
    "tags = {'SOPClassUID': 0x00080016, 'SOPInstanceUID': 0x00080018, 'StudyInstanceUID': 0x0020000D, 'Modality': 0x00080060, 'SyntheticData': 0x0008001C}",
    "print(json.dumps({k: str(ds[t].value) if t in ds else '' for k, t in tags.items()}))",
  ].join("\n");
  if (!pydicomPython) return null;
  const result = spawnSync(pydicomPython, ["-c", script, file], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`pydicom could not read ${file}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, string>;
}
