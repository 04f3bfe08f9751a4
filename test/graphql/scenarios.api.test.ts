// Black-box API tests over real HTTP, on embedded PGlite and (when TEST_DATABASE_URL is set) on PostgreSQL.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/db/index.ts";
import { ValidationError } from "../../src/errors.ts";
import { testBackends } from "../helpers/databases.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const LIBRARY_SIZE = readdirSync(new URL("../../scenarios/", import.meta.url)).filter((f) => f.endsWith(".yaml")).length;

const SCENARIO_FIELDS = /* GraphQL */ `
  fragment ScenarioFields on Scenario { id uuid name domain tags modelName latestVersion archived currentVersion { version spec } }
`;

const CREATE = /* GraphQL */ `
  mutation Create($spec: JSON!) {
    createScenario(spec: $spec) {
      __typename
      ... on MutationCreateScenarioSuccess { data { ...ScenarioFields } }
      ... on Error { message }
      ... on ValidationError { issues { path message } }
      ... on AlreadyExistsError { key }
    }
  }
  ${SCENARIO_FIELDS}
`;

const UPDATE = /* GraphQL */ `
  mutation Update($id: ID!, $spec: JSON!, $expectedVersion: Int) {
    updateScenario(id: $id, spec: $spec, expectedVersion: $expectedVersion) {
      __typename
      ... on MutationUpdateScenarioSuccess { data { ...ScenarioFields versions(first: 10) { totalCount edges { node { version spec } } } } }
      ... on Error { message }
      ... on VersionConflictError { expectedVersion actualVersion }
      ... on ValidationError { issues { path message } }
    }
  }
  ${SCENARIO_FIELDS}
`;

const deerSpec = (overrides: Record<string, unknown> = {}) => ({
  name: "deer-on-bridge-night",
  domain: "automotive",
  model: "road-hazards",
  description: "A deer on a bridge at night.",
  tags: ["animal", "night", "bridge"],
  parameters: {
    hazard: "animal",
    weather: { kind: "choice", values: ["clear", "fog"] },
    timeOfDay: "night",
    hazardCx: { kind: "uniform", min: 0.4, max: 0.6 },
    hazardCy: 0.62,
    hazardW: { kind: "uniform", min: 0.1, max: 0.2 },
    hazardH: 0.15,
  },
  expectations: [{ class: "animal" }],
  ...overrides,
});

describe.each(testBackends())("scenario API on $name", (backend) => {
  let db: Database;
  let api: TestService;

  beforeAll(async () => {
    db = await backend.open();
    api = await startTestService(db);
  });

  afterAll(async () => {
    await api?.close();
    await db?.close();
  });

  const scenarioCount = () => db.prisma.scenario.count();
  const versionCount = () => db.prisma.scenarioVersion.count();

  it("serves health and readiness", async () => {
    const health = await fetch(`${api.service.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });
    const ready = await fetch(`${api.service.url}/ready`);
    expect(await ready.json()).toEqual({ status: "ready", database: backend.name });
  });

  it("lists the whole library after start, filtered by domain, tag and text", async () => {
    const all = await api.graphql(`{ scenarios(first: 100) { totalCount edges { node { name domain } } } }`);
    expect(all.errors).toBeUndefined();
    expect(all.data!.scenarios.totalCount).toBe(LIBRARY_SIZE);
    const medical = await api.graphql(`{ scenarios(first: 100, domain: MEDICAL) { totalCount edges { node { domain } } } }`);
    expect(medical.data!.scenarios.totalCount).toBeGreaterThanOrEqual(8);
    expect(medical.data!.scenarios.edges.every((e: any) => e.node.domain === "MEDICAL")).toBe(true);
    const fog = await api.graphql(`{ scenarios(first: 100, tag: "fog") { edges { node { name } } } }`);
    expect(fog.data!.scenarios.edges.map((e: any) => e.node.name)).toContain("deer-crossing-night-fog");
    const text = await api.graphql(`{ scenarios(first: 100, text: "VENTRICLE") { edges { node { name } } } }`);
    expect(text.data!.scenarios.edges.map((e: any) => e.node.name)).toEqual(["small-tumour-near-ventricle"]);
    const page = await api.graphql(`{ scenarios(first: 5) { edges { cursor } pageInfo { hasNextPage endCursor } } }`);
    expect(page.data!.scenarios.edges).toHaveLength(5);
    expect(page.data!.scenarios.pageInfo.hasNextPage).toBe(true);
  });

  it("creates a scenario, then refuses the same name with a typed error", async () => {
    const created = await api.graphql(CREATE, { spec: deerSpec() });
    expect(created.data!.createScenario.__typename).toBe("MutationCreateScenarioSuccess");
    const scenario = created.data!.createScenario.data;
    expect(scenario).toMatchObject({ name: "deer-on-bridge-night", domain: "AUTOMOTIVE", latestVersion: 1, archived: false });
    expect(scenario.currentVersion.spec.parameters.hazardCy).toEqual({ kind: "fixed", value: 0.62 });

    const fetched = await api.graphql(`query($id: ID!) { scenario(id: $id) { ... on QueryScenarioSuccess { data { name } } } }`, { id: scenario.id });
    expect(fetched.data!.scenario.data.name).toBe("deer-on-bridge-night");

    const again = await api.graphql(CREATE, { spec: deerSpec() });
    expect(again.data!.createScenario).toMatchObject({ __typename: "AlreadyExistsError", key: "deer-on-bridge-night" });
  });

  it.each([
    ["an unknown distribution", { parameters: { ...deerSpec().parameters, hazardW: { kind: "lognormal", min: 0, max: 1 } } }, "parameters.hazardW.kind"],
    ["a negative range", { parameters: { ...deerSpec().parameters, hazardW: { kind: "uniform", min: 0.3, max: 0.1 } } }, "parameters.hazardW.max"],
    ["a wrong domain", { domain: "aviation" }, "domain"],
    ["an unknown field", { owner: "qa" }, "owner"],
    ["a value the model does not know", { parameters: { ...deerSpec().parameters, weather: "hail" } }, "parameters.weather"],
    ["a range outside the model's", { parameters: { ...deerSpec().parameters, hazardCx: { kind: "uniform", min: 0.5, max: 1.5 } } }, "parameters.hazardCx"],
    ["a missing condition field", { parameters: { hazard: "animal" } }, "parameters.weather"],
    ["an unknown model", { model: "sky-hazards" }, "model"],
  ])("refuses %s with a typed error naming the field, and writes no row", async (_label, overrides, path) => {
    const [scenariosBefore, versionsBefore] = [await scenarioCount(), await versionCount()];
    const result = await api.graphql(CREATE, { spec: deerSpec({ name: "malformed-scenario", ...overrides }) });
    expect(result.errors).toBeUndefined();
    expect(result.data!.createScenario.__typename).toBe("ValidationError");
    expect(result.data!.createScenario.issues.map((i: any) => i.path)).toContain(path);
    expect([await scenarioCount(), await versionCount()]).toEqual([scenariosBefore, versionsBefore]);
  });

  it("refuses a box a class is not drawn at, on create, update and import, naming the class, the field and the ranges", async () => {
    const IMPORT = `mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on MutationImportScenariosSuccess { data { created } } ... on ValidationError { message issues { path message } } } }`;
    const pedestrianIssue = { path: "parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 0.375..2 is outside the model\'s plausible 0.2..0.9' };
    const squat = { ...deerSpec().parameters, hazard: { kind: "choice", values: ["pedestrian", "animal"] }, hazardW: { kind: "uniform", min: 0.03, max: 0.06 }, hazardH: { kind: "uniform", min: 0.03, max: 0.08 } };
    const before = [await scenarioCount(), await versionCount()];

    const created = await api.graphql(CREATE, { spec: deerSpec({ name: "squat-pedestrians", parameters: squat }) });
    expect(created.data!.createScenario).toMatchObject({
      __typename: "ValidationError",
      issues: [pedestrianIssue, { path: "parameters.hazardW", message: 'hazard "animal": box aspect w/h 0.375..2 is outside the model\'s plausible 0.5..2.6' }],
    });
    expect(created.data!.createScenario.message).toContain('hazard "pedestrian": box aspect w/h 0.375..2');

    const yaml = `name: squat-pedestrians
domain: automotive
model: road-hazards
parameters: { hazard: pedestrian, weather: clear, timeOfDay: day, hazardCx: 0.5, hazardCy: 0.6, hazardW: {kind: uniform, min: 0.03, max: 0.06}, hazardH: {kind: uniform, min: 0.03, max: 0.08} }
`;
    const imported = await api.graphql(IMPORT, { yaml });
    expect(imported.data!.importScenarios).toMatchObject({ __typename: "ValidationError", issues: [pedestrianIssue] });
    expect([await scenarioCount(), await versionCount()]).toEqual(before);

    // at the edges of the ranges: a pedestrian exactly 0.2 to 0.9 as wide as tall, from 0.03 wide, is accepted...
    const edge = { ...deerSpec().parameters, hazard: "pedestrian", hazardH: { kind: "uniform", min: 0.15, max: 0.3 }, hazardW: { kind: "scaled", of: "hazardH", min: 0.2, max: 0.9 } };
    const accepted = await api.graphql(CREATE, { spec: deerSpec({ name: "pedestrians-at-the-edge", parameters: edge }) });
    expect(accepted.data!.createScenario.__typename).toBe("MutationCreateScenarioSuccess");
    // ... and an update that makes it squat is refused, leaving the version as it was
    const id = accepted.data!.createScenario.data.id;
    const wider = { ...edge, hazardW: { kind: "scaled", of: "hazardH", min: 0.2, max: 1.2 } };
    const updated = await api.graphql(UPDATE, { id, spec: deerSpec({ name: "pedestrians-at-the-edge", parameters: wider }) });
    expect(updated.data!.updateScenario).toMatchObject({
      __typename: "ValidationError",
      issues: [{ path: "parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 0.2..1.2 is outside the model\'s plausible 0.2..0.9' }],
    });
    expect(await db.prisma.scenarioVersion.count({ where: { scenarioId: accepted.data!.createScenario.data.uuid } })).toBe(1);
  });

  it("updates into a new version, keeps the old one, and detects version conflicts", async () => {
    const created = await api.graphql(CREATE, { spec: deerSpec({ name: "cone-field-fog" }) });
    const id = created.data!.createScenario.data.id;
    const updated = await api.graphql(UPDATE, { id, spec: deerSpec({ name: "cone-field-fog", tags: ["changed"] }), expectedVersion: 1 });
    const data = updated.data!.updateScenario.data;
    expect(data.latestVersion).toBe(2);
    expect(data.tags).toEqual(["changed"]);
    expect(data.versions.totalCount).toBe(2);
    expect(data.versions.edges.map((e: any) => e.node.version)).toEqual([2, 1]);
    expect(data.versions.edges[1].node.spec.tags).toEqual(["animal", "night", "bridge"]);

    const stale = await api.graphql(UPDATE, { id, spec: deerSpec({ name: "cone-field-fog" }), expectedVersion: 1 });
    expect(stale.data!.updateScenario).toMatchObject({ __typename: "VersionConflictError", expectedVersion: 1, actualVersion: 2 });
    const renamed = await api.graphql(UPDATE, { id, spec: deerSpec({ name: "other-name" }) });
    expect(renamed.data!.updateScenario.__typename).toBe("ValidationError");
    expect(await db.prisma.scenarioVersion.count({ where: { scenarioId: data.uuid } })).toBe(2);
  });

  it("answers unknown ids with NotFoundError", async () => {
    const missing = Buffer.from("Scenario:00000000-0000-4000-8000-000000000000").toString("base64");
    const result = await api.graphql(`mutation($id: ID!) { archiveScenario(id: $id) { __typename ... on NotFoundError { resource } } }`, { id: missing });
    expect(result.data!.archiveScenario).toEqual({ __typename: "NotFoundError", resource: "scenario" });
  });

  it("archives a scenario: hidden from the library unless asked, refused for updates", async () => {
    const created = await api.graphql(CREATE, { spec: deerSpec({ name: "to-be-archived" }) });
    const id = created.data!.createScenario.data.id;
    const archived = await api.graphql(`mutation($id: ID!) { archiveScenario(id: $id) { ... on MutationArchiveScenarioSuccess { data { archived } } } }`, { id });
    expect(archived.data!.archiveScenario.data.archived).toBe(true);
    const names = async (includeArchived: boolean) =>
      (await api.graphql(`query($a: Boolean) { scenarios(first: 100, includeArchived: $a) { edges { node { name } } } }`, { a: includeArchived })).data!.scenarios.edges.map(
        (e: any) => e.node.name,
      );
    expect(await names(false)).not.toContain("to-be-archived");
    expect(await names(true)).toContain("to-be-archived");
    const update = await api.graphql(UPDATE, { id, spec: deerSpec({ name: "to-be-archived" }) });
    expect(update.data!.updateScenario.__typename).toBe("ArchivedError");
  });

  it("imports YAML idempotently: unchanged content creates no version, changed content one", async () => {
    const IMPORT = `mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on MutationImportScenariosSuccess { data { created updated unchanged } } ... on ValidationError { issues { path message } } } }`;
    const yaml = (weather: string) => `
name: debris-on-bridge
domain: automotive
model: road-hazards
parameters: { hazard: debris, weather: ${weather}, timeOfDay: dusk, hazardCx: 0.5, hazardCy: 0.7, hazardW: 0.1, hazardH: 0.05 }
---
name: stalled-truck-tunnel
domain: automotive
model: road-hazards
parameters: { hazard: vehicle, weather: clear, timeOfDay: night, hazardCx: 0.5, hazardCy: 0.6, hazardW: 0.3, hazardH: 0.2 }
`;
    const first = await api.graphql(IMPORT, { yaml: yaml("clear") });
    expect(first.data!.importScenarios.data).toEqual({ created: ["debris-on-bridge", "stalled-truck-tunnel"], updated: [], unchanged: [] });
    const versions = await versionCount();
    const second = await api.graphql(IMPORT, { yaml: yaml("clear") });
    expect(second.data!.importScenarios.data).toEqual({ created: [], updated: [], unchanged: ["debris-on-bridge", "stalled-truck-tunnel"] });
    expect(await versionCount()).toBe(versions);
    const third = await api.graphql(IMPORT, { yaml: yaml("rain") });
    expect(third.data!.importScenarios.data).toEqual({ created: [], updated: ["debris-on-bridge"], unchanged: ["stalled-truck-tunnel"] });
    expect(await versionCount()).toBe(versions + 1);

    // All or nothing: one bad document means nothing from the batch is written.
    const before = [await scenarioCount(), await versionCount()];
    const bad = await api.graphql(IMPORT, { yaml: `${yaml("snow")}---\nname: broken-one\ndomain: automotive\nmodel: road-hazards\nparameters: { hazard: unicorn }\n` });
    expect(bad.data!.importScenarios.__typename).toBe("ValidationError");
    expect(bad.data!.importScenarios.issues.map((i: any) => i.path)).toContain("[2].parameters.hazard");
    expect([await scenarioCount(), await versionCount()]).toEqual(before);
  });

  it("the library import at start refuses a file asking a class for a box it is not drawn at, and writes nothing", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rareforge-library-"));
    try {
      const squat = deerSpec({ name: "squat-pedestrians", parameters: { ...deerSpec().parameters, hazard: "pedestrian", hazardW: 0.06, hazardH: 0.03 } });
      writeFileSync(path.join(dir, "squat-pedestrians.yaml"), JSON.stringify(squat));
      const before = [await scenarioCount(), await versionCount()];
      const { importLibrary } = await import("../../src/app.ts");
      const services = api.service.services;
      const error = await importLibrary({ ...services, config: { ...services.config, scenariosDir: dir } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([
        { path: "squat-pedestrians.yaml.parameters.hazardW", message: 'hazard "pedestrian": box aspect w/h 2..2 is outside the model\'s plausible 0.2..0.9' },
      ]);
      expect([await scenarioCount(), await versionCount()]).toEqual(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("re-importing the unchanged library at start writes nothing", async () => {
    const versions = await versionCount();
    const { importLibrary } = await import("../../src/app.ts");
    await importLibrary(api.service.services);
    expect(await versionCount()).toBe(versions);
  });

  it("previews drawn parameters deterministically and validates its arguments", async () => {
    const list = await api.graphql(`{ scenarios(first: 1, text: "deer-crossing-night-fog") { edges { node { id } } } }`);
    const id = list.data!.scenarios.edges[0].node.id;
    const PREVIEW = `query($id: ID!, $count: Int!, $seed: Int!) { previewParameters(scenarioId: $id, count: $count, seed: $seed) { __typename ... on QueryPreviewParametersSuccess { data } ... on ValidationError { issues { path } } } }`;
    const a = await api.graphql(PREVIEW, { id, count: 5, seed: 11 });
    const b = await api.graphql(PREVIEW, { id, count: 5, seed: 11 });
    expect(a.data!.previewParameters.data).toHaveLength(5);
    expect(a.data!.previewParameters.data).toEqual(b.data!.previewParameters.data);
    expect(a.data!.previewParameters.data[0]).toMatchObject({ hazard: "animal", timeOfDay: "night" });
    // scaled parameters come back as values: the library's failure-search deer keeps a deer's shape
    const deer = await api.graphql(`{ scenarios(first: 1, text: "deer-on-road-any-conditions") { edges { node { id } } } }`);
    const scaled = await api.graphql(PREVIEW, { id: deer.data!.scenarios.edges[0].node.id, count: 20, seed: 3 });
    for (const p of scaled.data!.previewParameters.data as Array<Record<string, number>>) {
      expect(p.hazardW! / p.hazardH!).toBeGreaterThanOrEqual(1.1);
      expect(p.hazardW! / p.hazardH!).toBeLessThan(1.6);
      expect((p.hazardCy! - 0.45) / p.hazardH!).toBeGreaterThanOrEqual(0.52);
    }
    const tooMany = await api.graphql(PREVIEW, { id, count: 100_000, seed: 1 });
    expect(tooMany.data!.previewParameters).toEqual({ __typename: "ValidationError", issues: [{ path: "count" }] });
  });

  it("refuses queries deeper than the limit and bodies larger than the limit", async () => {
    const deep = `{ scenarios(first: 1) { edges { node { versions(first: 1) { edges { node { scenario { versions(first: 1) { edges { node { scenario { versions(first: 1) { edges { node { id } } } } } } } } } } } } } } }`;
    const result = await api.graphql(deep);
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.message).toMatch(/depth/i);

    const huge = await api.fetch(`/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(api.config.maxBodyBytes) } }),
    });
    expect(huge.status).toBe(413);
  });

  it("answers a mutation or query selecting only __typename, or only an error fragment, with its result type", async () => {
    const created = await api.graphql(CREATE, { spec: deerSpec({ name: "typename-only" }) });
    const id = created.data!.createScenario.data.id;
    const fetched = await api.graphql(`query($id: ID!) { scenario(id: $id) { __typename } }`, { id });
    expect(fetched).toEqual({ status: 200, data: { scenario: { __typename: "QueryScenarioSuccess" } } });
    const onlyError = await api.graphql(`query($id: ID!) { scenario(id: $id) { ... on NotFoundError { message } } }`, { id });
    expect(onlyError).toEqual({ status: 200, data: { scenario: {} } });
    const archived = await api.graphql(`mutation($id: ID!) { archiveScenario(id: $id) { __typename } }`, { id });
    expect(archived).toEqual({ status: 200, data: { archiveScenario: { __typename: "MutationArchiveScenarioSuccess" } } });
    const again = await api.graphql(`mutation($id: ID!) { archiveScenario(id: $id) { ... on NotFoundError { message } } }`, { id });
    expect(again).toEqual({ status: 200, data: { archiveScenario: {} } });
  });

  it("refuses a 1,000,000-character description with a ValidationError naming description, and writes no row", async () => {
    const before = [await scenarioCount(), await versionCount()];
    const result = await api.graphql(CREATE, { spec: deerSpec({ name: "long-description", description: "x".repeat(1_000_000) }) });
    expect(result.errors).toBeUndefined();
    expect(result.data!.createScenario.__typename).toBe("ValidationError");
    expect(result.data!.createScenario.issues).toEqual([{ path: "description", message: "a description may have at most 2000 characters" }]);
    expect([await scenarioCount(), await versionCount()]).toEqual(before);
  });

  it("refuses a YAML alias bomb with a typed ValidationError", async () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) levels.push(`${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(9).fill(`*${"abcdefghi"[i - 1]}`).join(", ")}]`);
    const bomb = `${levels.join("\n")}\nname: bomb\ndomain: automotive\nmodel: road-hazards\nparameters: { hazard: *i }\n`;
    const result = await api.graphql(
      `mutation($yaml: String!) { importScenarios(yaml: $yaml) { __typename ... on ValidationError { issues { path message } } } }`,
      { yaml: bomb },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.importScenarios).toEqual({ __typename: "ValidationError", issues: [{ path: "", message: "YAML: the document expands more than 50 aliases" }] });
  });

  it("masks unexpected errors instead of leaking internals", async () => {
    const result = await api.graphql(`query($id: ID!) { scenario(id: $id) { __typename } }`, { id: "not-base64-global-id" });
    expect(result.errors?.[0]?.message).not.toMatch(/at .*\.ts/);
  });
});
