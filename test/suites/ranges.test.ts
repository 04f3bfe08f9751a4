// Generating only what a suite lacks: missing indices become jobs over consecutive ranges (each at most a job's
// size), and a job's batch tasks then cover exactly firstIndex..firstIndex+count-1.
import { describe, expect, it } from "vitest";
import { splitIntoTasks } from "../../src/jobs/index.ts";
import { consecutiveRanges } from "../../src/suites/index.ts";

describe("missing sample indices", () => {
  it("become consecutive ranges, split at the largest job", () => {
    expect(consecutiveRanges([0, 1, 2, 5, 6, 9], 2)).toEqual([
      { first: 0, count: 2 },
      { first: 2, count: 1 },
      { first: 5, count: 2 },
      { first: 9, count: 1 },
    ]);
    expect(consecutiveRanges([], 10)).toEqual([]);
    expect(consecutiveRanges([8, 9, 10], 1000)).toEqual([{ first: 8, count: 3 }]);
  });

  it("a job starting at index 8 splits into tasks over 8..10 only", () => {
    expect(splitIntoTasks("job", 3, 2, 8)).toEqual([
      { jobId: "job", start: 8, end: 10 },
      { jobId: "job", start: 10, end: 11 },
    ]);
    expect(splitIntoTasks("job", 3, 2)).toEqual([
      { jobId: "job", start: 0, end: 2 },
      { jobId: "job", start: 2, end: 3 },
    ]);
  });
});
