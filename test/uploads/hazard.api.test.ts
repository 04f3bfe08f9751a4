// insertHazard over GraphQL: an automotive operator inserts into an AUTOMOTIVE camera frame, an automotive viewer
// reads the insertion and downloads its PNG, and a key without the automotive scope finds neither.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { CAMERA_FRAMES, readSharedImage, sharedImagesAvailable } from "./helpers/shared-images.ts";

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

for (const backend of testBackends().slice(0, 1)) {
  describe.skipIf(!sharedImagesAvailable)(`insertHazard over GraphQL (${backend.name})`, () => {
    let db: Database;
    let api: TestService;
    let frameId: string;

    beforeAll(async () => {
      db = await backend.open();
      api = await startTestService(db, { importLibraryOnStart: false, runWorker: false });
      frameId = (await api.service.services.referenceScans.upload(readSharedImage(CAMERA_FRAMES[4]!), { domain: "AUTOMOTIVE" })).id;
    }, 120_000);
    afterAll(async () => {
      await api?.close();
      await db?.close();
    });

    it("inserts, reads back and hides the result from a key without the automotive scope", async () => {
      const operator = await api.createKey("OPERATOR", ["AUTOMOTIVE"]);
      const box = { x: 600, y: 200, width: 60, height: 44 };
      const inserted = await api.graphqlAs(
        operator,
        `mutation($frame: ID!, $box: RegionBoxInput!) {
          insertHazard(referenceScanId: $frame, box: $box, parameters: { hazard: "animal", weather: "fog", timeOfDay: "dusk" }, steps: 8, seed: 4) {
            __typename
            ... on MutationInsertHazardSuccess { data { id groundTruth artifact { sha256 } referenceScan { domain kind } } }
            ... on Error { message }
          }
        }`,
        { frame: globalId("ReferenceScan", frameId), box },
      );
      expect(inserted.errors, JSON.stringify(inserted.errors)).toBeUndefined();
      const result = inserted.data!.insertHazard;
      expect(result.__typename, JSON.stringify(result)).toBe("MutationInsertHazardSuccess");
      expect(result.data.groundTruth).toEqual({ class: "animal", box, frame: { width: 1242, height: 375 } });
      expect(result.data.referenceScan).toEqual({ domain: "AUTOMOTIVE", kind: "PNG" });

      const viewer = await api.createKey("VIEWER", ["AUTOMOTIVE"]);
      const read = await api.graphqlAs(viewer, `query($id: ID!) { hazardInsertion(id: $id) { __typename ... on QueryHazardInsertionSuccess { data { box } } } referenceScans(first: 5) { totalCount } }`, { id: result.data.id });
      expect(read.data!.hazardInsertion.data.box).toEqual(box);
      expect(read.data!.referenceScans.totalCount).toBe(1);
      const download = await fetch(`${api.service.url}/artifacts/${result.data.artifact.sha256}`, { headers: { authorization: `Bearer ${viewer}` } });
      expect(download.status).toBe(200);

      const refused = await api.graphqlAs(
        operator,
        `mutation($frame: ID!) { insertHazard(referenceScanId: $frame, box: { x: 2000, y: 0, width: 20, height: 20 }, parameters: { hazard: "animal" }, seed: 1) { __typename ... on InsertionRefusedError { code } } }`,
        { frame: globalId("ReferenceScan", frameId) },
      );
      expect(refused.data!.insertHazard).toEqual({ __typename: "InsertionRefusedError", code: "REGION" });

      const medicalOnly = await api.createKey("VIEWER", ["MEDICAL"]);
      const hidden = await api.graphqlAs(medicalOnly, `query($id: ID!) { hazardInsertion(id: $id) { __typename } referenceScans(first: 5) { totalCount } }`, { id: result.data.id });
      expect(hidden.data!.hazardInsertion.__typename).toBe("NotFoundError");
      expect(hidden.data!.referenceScans.totalCount).toBe(0);
      expect((await fetch(`${api.service.url}/artifacts/${result.data.artifact.sha256}`, { headers: { authorization: `Bearer ${medicalOnly}` } })).status).toBe(404);
    }, 120_000);
  });
}
