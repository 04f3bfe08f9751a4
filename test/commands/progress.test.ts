// Generation progress: the figures behind the terminal bar and the plain lines.
import { describe, expect, it } from "vitest";
import { describeProgress, ProgressMeter, type ProgressReport } from "../../src/commands/progress.ts";

const report = (samplesDone: number, batchStep: number, batchSteps = 10, samplesTotal = 10): ProgressReport => ({ samplesDone, samplesTotal, batchStep, batchSteps });

function meterAt(batchSize: number) {
  let millis = 0;
  const meter = new ProgressMeter(batchSize, () => millis);
  return { meter, at: (seconds: number) => (millis = seconds * 1000) };
}

describe("generation progress", () => {
  it("counts the running batch's steps towards its samples, and the ETA from the rate so far", () => {
    const { meter, at } = meterAt(4);
    at(2);
    // half of the first batch of 4: 2 samples' worth in 2 s
    const figures = meter.figures(report(0, 5));
    expect(figures).toEqual({ batchClosed: false, samples: 2, samplesPerSecond: 1, etaSeconds: 8 });
    expect(describeProgress(report(0, 5), figures)).toBe("0/10 samples | step 5/10 | 1.00 samples/s | ETA 8 s");
  });

  it("a report whose samplesDone moved on closes a batch and counts only the finished samples", () => {
    const { meter, at } = meterAt(4);
    at(1);
    meter.figures(report(0, 10));
    at(4);
    expect(meter.figures(report(4, 10))).toEqual({ batchClosed: true, samples: 4, samplesPerSecond: 1, etaSeconds: 6 });
    // the last batch holds the 2 samples that are left
    meter.figures(report(8, 10));
    at(9);
    expect(meter.figures(report(8, 5)).samples).toBe(9);
  });

  it("has no rate or ETA before the first step", () => {
    const { meter } = meterAt(4);
    const figures = meter.figures(report(0, 0, 0));
    expect(figures.samplesPerSecond).toBeNull();
    expect(describeProgress(report(0, 0, 0), figures)).toBe("0/10 samples | step 0/0 | - samples/s | ETA -");
  });
});
