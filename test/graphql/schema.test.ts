import { printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/graphql/schema/index.ts";

describe("GraphQL schema", () => {
  it("matches the reviewed snapshot (a change here is an API change)", async () => {
    await expect(printSchema(schema)).toMatchFileSnapshot("./__snapshots__/schema.graphql");
  });

  it("returns expected failures as typed union members implementing Error", () => {
    const printed = printSchema(schema);
    expect(printed).toMatch(/union MutationCreateScenarioResult = AlreadyExistsError \| MutationCreateScenarioSuccess \| ValidationError/);
    expect(printed).toMatch(/type ValidationError implements Error/);
  });
});
