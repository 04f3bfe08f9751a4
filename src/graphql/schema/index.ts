import { builder } from "../builder.ts";
import "./scalars.ts";
import "./errors.ts";
import "./sampling.ts";
import "./scenarios.ts";
import "./jobs.ts";
import "./uploads.ts";
import "./detectors.ts";
import "./reports.ts";
import "./search.ts";
import "./exports.ts";

export const schema = builder.toSchema({ sortSchema: true });
