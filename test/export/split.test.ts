// The split is a pure function of (seed, sample id) and the fractions: stable, proportional, and refusing
// fractions that do not add up.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseExportFilter, parseSplit, splitOf } from "../../src/export/index.ts";
import { ValidationError } from "../../src/errors.ts";

describe("splitOf", () => {
  const ids = Array.from({ length: 20_000 }, () => randomUUID());

  it("gives a sample the same split every time and follows the fractions", () => {
    const spec = parseSplit({ train: 0.7, val: 0.2, test: 0.1, seed: 42 });
    const counts = { train: 0, val: 0, test: 0 };
    for (const id of ids) {
      const split = splitOf(spec, id);
      expect(splitOf({ ...spec }, id)).toBe(split);
      counts[split]++;
    }
    // Binomial standard deviation at n = 20000 is at most 0.0036; 0.02 is more than five of them.
    expect(counts.train / ids.length).toBeCloseTo(0.7, 1);
    expect(Math.abs(counts.val / ids.length - 0.2)).toBeLessThan(0.02);
    expect(Math.abs(counts.test / ids.length - 0.1)).toBeLessThan(0.02);
  });

  it("depends on the seed", () => {
    const a = ids.slice(0, 1000).map((id) => splitOf(parseSplit({ seed: 1 }), id));
    const b = ids.slice(0, 1000).map((id) => splitOf(parseSplit({ seed: 2 }), id));
    expect(a).not.toEqual(b);
  });

  it("never uses an empty split", () => {
    const spec = parseSplit({ train: 0.9, val: 0.1, test: 0 });
    expect(ids.some((id) => splitOf(spec, id) === "test")).toBe(false);
    const all = parseSplit({ train: 1, val: 0, test: 0 });
    expect(new Set(ids.map((id) => splitOf(all, id)))).toEqual(new Set(["train"]));
  });

  it("refuses fractions that are negative or do not sum to 1, naming the field", () => {
    expect(() => parseSplit({ train: -0.1, val: 0.6, test: 0.5 })).toThrow(/split\.train: a fraction cannot be negative/);
    expect(() => parseSplit({ train: 0.5, val: 0.1, test: 0.1 })).toThrow(/train \+ val \+ test must be 1/);
    expect(() => parseSplit({ seed: 1.5 } as never)).toThrow(ValidationError);
  });
});

describe("parseExportFilter", () => {
  it("refuses unknown fields, malformed ids and INVALID, and normalises outcomes", () => {
    expect(() => parseExportFilter({ job: "x" })).toThrow(/unknown filter field\(s\): job/);
    expect(() => parseExportFilter({ jobId: "42" })).toThrow(/filter\.jobId/);
    expect(() => parseExportFilter({ outcomes: ["INVALID"] })).toThrow(/INVALID samples are never exported/);
    expect(parseExportFilter({ outcomes: ["WRONG_CLASS", "MISS", "MISS"] }).outcomes).toEqual(["MISS", "WRONG_CLASS"]);
  });
});
