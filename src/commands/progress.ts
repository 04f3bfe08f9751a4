// Progress of `rareforge generate`: a bar with samples/s and ETA on a terminal, one plain line per finished
// batch otherwise (logs and pipes get no cursor codes).
import { SingleBar } from "cli-progress";

/** What the pipeline reports after each denoising step (generateSamples' onProgress). */
export interface ProgressReport {
  samplesDone: number;
  samplesTotal: number;
  batchStep: number;
  batchSteps: number;
}

export interface ProgressFigures {
  /** This report is the one that closed a batch (samplesDone moved on), not a step inside one. */
  batchClosed: boolean;
  /** Finished samples plus the running batch's share of its steps. */
  samples: number;
  samplesPerSecond: number | null;
  etaSeconds: number | null;
}

export interface GenerationProgress {
  update(report: ProgressReport): void;
  stop(): void;
}

/** Samples per second and ETA from the reports of one run, timed from its creation. */
export class ProgressMeter {
  readonly #batchSize: number;
  readonly #now: () => number;
  readonly #started: number;
  #samplesDone = 0;

  constructor(batchSize: number, now: () => number = () => performance.now()) {
    this.#batchSize = batchSize;
    this.#now = now;
    this.#started = now();
  }

  figures(report: ProgressReport): ProgressFigures {
    const batchClosed = report.samplesDone !== this.#samplesDone;
    this.#samplesDone = report.samplesDone;
    // the running batch holds min(batchSize, what is left) samples; its steps count towards that many
    const running = batchClosed ? 0 : Math.min(this.#batchSize, report.samplesTotal - report.samplesDone);
    const share = report.batchSteps > 0 ? report.batchStep / report.batchSteps : 0;
    const samples = report.samplesDone + running * share;
    const elapsedSeconds = (this.#now() - this.#started) / 1000;
    if (samples <= 0 || elapsedSeconds <= 0) return { batchClosed, samples, samplesPerSecond: null, etaSeconds: null };
    const samplesPerSecond = samples / elapsedSeconds;
    return { batchClosed, samples, samplesPerSecond, etaSeconds: (report.samplesTotal - samples) / samplesPerSecond };
  }
}

/** "3/8 samples | step 12/20 | 1.25 samples/s | ETA 4 s" (rate and ETA "-" until the first step is done). */
export function describeProgress(report: ProgressReport, figures: ProgressFigures): string {
  const rate = figures.samplesPerSecond === null ? "-" : figures.samplesPerSecond.toFixed(2);
  const eta = figures.etaSeconds === null ? "-" : `${Math.ceil(figures.etaSeconds)} s`;
  return `${report.samplesDone}/${report.samplesTotal} samples | step ${report.batchStep}/${report.batchSteps} | ${rate} samples/s | ETA ${eta}`;
}

/** A bar when the stream is a terminal, otherwise one line per closed batch. */
export function startGenerationProgress(options: { samplesTotal: number; batchSize: number; stream: NodeJS.WriteStream }): GenerationProgress {
  const meter = new ProgressMeter(options.batchSize);
  return options.stream.isTTY ? terminalBar(options.samplesTotal, options.stream, meter) : plainLines(options.stream, meter);
}

function terminalBar(samplesTotal: number, stream: NodeJS.WriteStream, meter: ProgressMeter): GenerationProgress {
  const bar = new SingleBar({ format: "generate [{bar}] {figures}", hideCursor: true, stream });
  const first: ProgressReport = { samplesDone: 0, samplesTotal, batchStep: 0, batchSteps: 0 };
  bar.start(samplesTotal, 0, { figures: describeProgress(first, meter.figures(first)) });
  return {
    update(report) {
      const figures = meter.figures(report);
      bar.update(figures.samples, { figures: describeProgress(report, figures) });
    },
    stop: () => bar.stop(),
  };
}

function plainLines(stream: NodeJS.WriteStream, meter: ProgressMeter): GenerationProgress {
  return {
    update(report) {
      const figures = meter.figures(report);
      if (figures.batchClosed) stream.write(`rareforge: generate ${describeProgress(report, figures)}\n`);
    },
    stop() {},
  };
}
