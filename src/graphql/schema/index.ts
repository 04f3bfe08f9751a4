import { builder } from "../builder.ts";
import "./scalars.ts";
import "./errors.ts";
import "./sampling.ts";
import "./scenarios.ts";
import "./jobs.ts";
import "./uploads.ts";
import "./reference-sets.ts";
import "./detectors.ts";
import "./models.ts";
import "./reports.ts";
import "./search.ts";
import "./suites.ts";
import "./exports.ts";
import "./access.ts";
import "./pacs.ts";
import { withAccessRules } from "../access-rules.ts";

/** The schema; every root field is checked against its access rule (graphql/access-rules.ts). */
export const schema = withAccessRules(builder.toSchema({ sortSchema: true }));
