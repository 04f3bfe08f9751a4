// The DICOMweb client and endpoint configuration: secrets never print, a rejected instance is reported per
// instance with Orthanc's failure reason, a response over the limit is refused before it is all read, and
// transient failures are retried while permanent ones are not.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import dicomParser from "dicom-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { DicomWebClient, multipartBoundary, parsePacsEndpoints, PacsConfigError, type PacsEndpoint } from "../../src/pacs/index.ts";
import { readSharedDicom, sharedDicomAvailable } from "../imaging/helpers/shared-dicom.ts";
import { ORTHANC_PASSWORD, ORTHANC_USER, orthancAvailable, OrthancServer } from "./helpers/orthanc.ts";

const endpointJson = (overrides: Record<string, unknown> = {}) => JSON.stringify([{ name: "pacs", url: "http://127.0.0.1:1/dicom-web", auth: { kind: "bearer", tokenEnv: "PACS_TOKEN" }, ...overrides }]);

describe("PACS endpoint configuration", () => {
  it("resolves the secret from the variable it names and never prints it", () => {
    const [endpoint] = parsePacsEndpoints(endpointJson(), { PACS_TOKEN: "s3cr3t-token" });
    expect(endpoint?.credentials.header()).toBe("Bearer s3cr3t-token");
    expect(JSON.stringify(endpoint)).not.toContain("s3cr3t");
    expect(inspect(endpoint, { depth: 5 })).not.toContain("s3cr3t");
    const config = loadConfig({ RAREFORGE_PACS_ENDPOINTS: endpointJson(), PACS_TOKEN: "s3cr3t-token" });
    expect(JSON.stringify(config)).not.toContain("s3cr3t");
    expect(inspect(config, { depth: 8 })).not.toContain("s3cr3t");
  });

  it("refuses what it cannot use, naming the problem", () => {
    expect(() => parsePacsEndpoints("[{", {})).toThrow(/RAREFORGE_PACS_ENDPOINTS is not valid JSON/);
    expect(() => parsePacsEndpoints(endpointJson(), {})).toThrow(/environment variable PACS_TOKEN is not set/);
    expect(() => parsePacsEndpoints(endpointJson({ url: "http://user:pw@host/dicom-web" }), { PACS_TOKEN: "x" })).toThrow(/no credentials in the URL/);
    expect(() => parsePacsEndpoints(endpointJson({ url: "ftp://host/x" }), { PACS_TOKEN: "x" })).toThrow(/an http or https URL/);
    const twice = JSON.stringify([...JSON.parse(endpointJson()), ...JSON.parse(endpointJson())]);
    expect(() => parsePacsEndpoints(twice, { PACS_TOKEN: "x" })).toThrow(/listed twice/);
    expect(() => parsePacsEndpoints(endpointJson(), {})).toThrow(PacsConfigError);
    expect(() => loadConfig({ RAREFORGE_PACS_ENDPOINTS: endpointJson() })).toThrow(/invalid configuration: PACS endpoint "pacs": environment variable PACS_TOKEN is not set/);
    expect(parsePacsEndpoints(undefined, {})).toEqual([]);
  });

  it("reads the boundary of a multipart/related answer", () => {
    expect(multipartBoundary('multipart/related; type="application/dicom"; boundary=abc123')).toBe("abc123");
    expect(multipartBoundary('multipart/related; boundary="quoted value"; type="application/dicom"')).toBe("quoted value");
    expect(multipartBoundary("application/dicom+json")).toBeNull();
  });
});

describe("retries", () => {
  let server: http.Server;
  let statuses: number[];
  let requests = 0;
  let endpoint: PacsEndpoint;
  beforeAll(async () => {
    server = http.createServer((_request, response) => {
      requests++;
      const status = statuses.shift() ?? 200;
      response.writeHead(status, { "Content-Type": "application/dicom+json" });
      response.end(status === 200 ? "[]" : "busy");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    [endpoint] = parsePacsEndpoints(JSON.stringify([{ name: "flaky", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicom-web`, attempts: 3 }]), {}) as [PacsEndpoint];
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("retries 503 until it succeeds, and gives up after the endpoint's attempts", async () => {
    const client = new DicomWebClient(endpoint, { retryDelayMs: 1 });
    statuses = [503, 503];
    requests = 0;
    await expect(client.searchStudies()).resolves.toEqual([]);
    expect(requests).toBe(3);
    statuses = [503, 502, 504];
    requests = 0;
    await expect(client.searchStudies()).rejects.toMatchObject({ name: "PacsError", code: "HTTP", httpStatus: 504 });
    expect(requests).toBe(3);
  });

  it("does not retry a permanent failure", async () => {
    const client = new DicomWebClient(endpoint, { retryDelayMs: 1 });
    statuses = [403];
    requests = 0;
    await expect(client.searchStudies()).rejects.toMatchObject({ code: "UNAUTHORIZED", httpStatus: 403 });
    expect(requests).toBe(1);
  });

  it("reports an endpoint nobody listens on as UNREACHABLE", async () => {
    const [closed] = parsePacsEndpoints(JSON.stringify([{ name: "closed", url: "http://127.0.0.1:9/dicom-web", attempts: 1 }]), {});
    await expect(new DicomWebClient(closed!).searchStudies()).rejects.toMatchObject({ code: "UNREACHABLE" });
  });
});

describe.skipIf(!orthancAvailable || !sharedDicomAvailable)("the client against Orthanc", () => {
  let orthanc: OrthancServer;
  let client: DicomWebClient;
  // read in beforeAll: a skipped describe still runs its body, and ../shared may be absent
  let mr: Uint8Array;
  const uids = (bytes: Uint8Array) => {
    const dataSet = dicomParser.parseDicom(bytes);
    return { study: dataSet.string("x0020000d")!, series: dataSet.string("x0020000e")!, instance: dataSet.string("x00080018")! };
  };
  beforeAll(async () => {
    mr = readSharedDicom("MR_small.dcm");
    orthanc = await OrthancServer.start();
    const [endpoint] = parsePacsEndpoints(JSON.stringify([{ name: "orthanc", url: orthanc.dicomWebUrl, auth: { kind: "basic", username: ORTHANC_USER, passwordEnv: "P" } }]), { P: ORTHANC_PASSWORD });
    client = new DicomWebClient(endpoint!, { retryDelayMs: 1 });
  }, 60_000);
  afterAll(async () => orthanc?.dispose());

  it("stores with STOW-RS and retrieves the same bytes' instance with WADO-RS", async () => {
    const stored = await client.store([{ sopInstanceUid: uids(mr).instance, bytes: mr }]);
    expect(stored.instances).toEqual([{ sopInstanceUid: uids(mr).instance, status: "STORED" }]);
    const back = await client.retrieveInstance(uids(mr), 1 << 20);
    expect(dicomParser.parseDicom(back).string("x00080018")).toBe(uids(mr).instance);
  });

  it("reports an instance Orthanc rejects with its failure reason", async () => {
    // STOW-RS to a study the instance does not belong to: Orthanc lists it in FailedSOPSequence
    const answer = await client.store([{ sopInstanceUid: uids(mr).instance, bytes: mr }], "1.2.826.0.1.3680043.2.1125.999");
    expect(answer.instances).toHaveLength(1);
    expect(answer.instances[0]).toMatchObject({ sopInstanceUid: uids(mr).instance, status: "FAILED" });
    expect((answer.instances[0] as { reason: string }).reason).toBe("failure reason 0x0110 (processing failure)");
  });

  it("refuses an instance over the limit as TOO_LARGE", async () => {
    await expect(client.retrieveInstance(uids(mr), 1024)).rejects.toMatchObject({ name: "PacsError", code: "TOO_LARGE" });
  });

  it("says NOT_FOUND for an instance Orthanc does not hold", async () => {
    await expect(client.retrieveInstance({ ...uids(mr), instance: "1.2.3.4.5" }, 1 << 20)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
