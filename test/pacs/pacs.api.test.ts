// PACS over GraphQL against a real Orthanc: a medical operator lists the endpoints, searches, imports a study
// and sends an insertion's synthetic series back; each mutation is in the audit log; a key without the
// medical scope is refused every PACS field.
import dicomParser from "dicom-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { parsePacsEndpoints } from "../../src/pacs/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { readSharedDicom, sharedDicomAvailable } from "../imaging/helpers/shared-dicom.ts";
import { ORTHANC_PASSWORD, ORTHANC_USER, orthancAvailable, OrthancServer } from "./helpers/orthanc.ts";
import { decodeGlobalID } from "@pothos/plugin-relay";

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

for (const backend of testBackends()) {
  describe.skipIf(!orthancAvailable || !sharedDicomAvailable)(`PACS over GraphQL (${backend.name})`, () => {
    let orthanc: OrthancServer;
    let db: Database;
    let api: TestService;
    // read in beforeAll: a skipped describe still runs its body, and ../shared may be absent
    let studyUid: string;

    beforeAll(async () => {
      orthanc = await OrthancServer.start();
      studyUid = dicomParser.parseDicom(readSharedDicom("MR_small.dcm")).string("x0020000d")!;
      await orthanc.upload(readSharedDicom("MR_small.dcm"));
      db = await backend.open();
      const endpoints = parsePacsEndpoints(JSON.stringify([{ name: "orthanc", url: orthanc.dicomWebUrl, auth: { kind: "basic", username: ORTHANC_USER, passwordEnv: "P" } }]), { P: ORTHANC_PASSWORD });
      api = await startTestService(db, { importLibraryOnStart: false, runWorker: false, pacsEndpoints: endpoints });
    }, 120_000);
    afterAll(async () => {
      await api?.close();
      await db?.close();
      await orthanc?.dispose();
    });

    it("imports a study and sends an insertion's synthetic series back, audited", async () => {
      const operator = await api.createKey("OPERATOR", ["MEDICAL"]);
      const listed = await api.graphqlAs(operator, `{ pacsEndpoints pacsSearch(endpoint: "orthanc") { __typename ... on QueryPacsSearchSuccess { data } } }`);
      expect(listed.errors, JSON.stringify(listed.errors)).toBeUndefined();
      expect(listed.data!.pacsEndpoints).toEqual(["orthanc"]);
      expect(listed.data!.pacsSearch.data.map((s: Record<string, { Value: string[] }>) => s["0020000D"]?.Value[0])).toEqual([studyUid]);

      const imported = await api.graphqlAs(
        operator,
        `mutation($study: String!) { importFromPacs(endpoint: "orthanc", studyInstanceUid: $study) {
          __typename ... on MutationImportFromPacsSuccess { data { endpoint instances { status referenceScan { id kind domain studyInstanceUid } } } } ... on Error { message } } }`,
        { study: studyUid },
      );
      const result = imported.data!.importFromPacs;
      expect(result.__typename, JSON.stringify(result)).toBe("MutationImportFromPacsSuccess");
      const [instance] = result.data.instances;
      expect(instance.status).toBe("IMPORTED");
      expect(instance.referenceScan).toMatchObject({ kind: "DICOM", domain: "MEDICAL" });
      expect(instance.referenceScan.studyInstanceUid).not.toBe(studyUid);

      const scanId = decodeGlobalID(instance.referenceScan.id).id;
      const insertion = await api.service.services.referenceScans.insertPathology({
        referenceScanId: scanId,
        region: { kind: "box", x: 20, y: 20, width: 12, height: 12 },
        parameters: { pathology: "lesions", lesionContrast: 0.8 },
        sampler: "ddim",
        steps: 4,
        guidance: 3,
        seed: 1,
      });
      const sent = await api.graphqlAs(
        operator,
        `mutation($id: ID!) { sendToPacs(endpoint: "orthanc", insertionId: $id) { __typename ... on MutationSendToPacsSuccess { data { instances { status failure } } } ... on Error { message } } }`,
        { id: globalId("PathologyInsertion", insertion.id) },
      );
      expect(sent.data!.sendToPacs.data.instances).toEqual([
        { status: "STORED", failure: null },
        { status: "STORED", failure: null },
      ]);

      const bothIds = await api.graphqlAs(operator, `mutation { sendToPacs(endpoint: "orthanc") { __typename ... on ValidationError { message } } }`);
      expect(bothIds.data!.sendToPacs.__typename).toBe("ValidationError");
      const unknown = await api.graphqlAs(operator, `mutation { importFromPacs(endpoint: "other", studyInstanceUid: "1.2.3") { __typename ... on PacsError { code } } }`);
      expect(unknown.data!.importFromPacs).toEqual({ __typename: "PacsError", code: "UNKNOWN_ENDPOINT" });

      const audited = await db.prisma.auditEntry.findMany({ where: { operation: { in: ["importFromPacs", "sendToPacs"] } }, orderBy: { id: "asc" } });
      // a typed error returned as a result is audited under its name
      expect(audited.map((a) => [a.operation, a.outcome, a.domain])).toEqual([
        ["importFromPacs", "OK", "MEDICAL"],
        ["sendToPacs", "OK", "MEDICAL"],
        ["sendToPacs", "ValidationError", "MEDICAL"],
        ["importFromPacs", "PacsError", "MEDICAL"],
      ]);
      expect(JSON.stringify(audited, (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value))).not.toContain(ORTHANC_PASSWORD);
    }, 180_000);

    it("refuses every PACS field to a key without the medical scope", async () => {
      const automotive = await api.createKey("OPERATOR", ["AUTOMOTIVE"]);
      for (const operation of [
        `{ pacsEndpoints }`,
        `{ pacsSearch(endpoint: "orthanc") { __typename } }`,
        `mutation { importFromPacs(endpoint: "orthanc", studyInstanceUid: "${studyUid}") { __typename } }`,
        `mutation { sendToPacs(endpoint: "orthanc", sampleIds: []) { __typename } }`,
      ]) {
        const answer = await api.graphqlAs(automotive, operation);
        expect(answer.errors?.[0]?.extensions?.code, operation).toBe("FORBIDDEN");
      }
      expect(await db.prisma.pacsImport.count()).toBe(1);
    });
  });
}
