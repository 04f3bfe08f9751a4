// How the bench scripts judge generated samples: the domain critic reads each image, every categorical field it
// reads is compared with the request, and the product's realism gate (judgeRealism, default thresholds, as the
// worker runs it) gives its verdict.
import { judgeRealism, seenValues, type Critic, type RealismVerdict } from "../src/detection/index.ts";

export interface SampleJudgement {
  /** Per categorical field the critic reads: did it read what was requested? (The class of a requested object as the
   *  gate reads it: at the requested place, where the critic has a look.) */
  correct: Record<string, boolean>;
  verdict: RealismVerdict;
}

/** The categorical fields a critic reads (what judged accuracy is reported for). */
export const categoricalFields = (critic: Critic) => critic.manifest.fields.filter((f) => f.kind === "categorical").map((f) => f.name);

/** Judges images (model space, planar) against the parameters they were requested with, in order. */
export async function judgeSamples(critic: Critic, images: readonly Float32Array[], requested: readonly Record<string, string | number>[]): Promise<SampleJudgement[]> {
  const fields = categoricalFields(critic);
  const predictions = await critic.predict(images, requested);
  return predictions.map((prediction, i) => {
    const want = requested[i]!;
    const seen = seenValues(critic.manifest, prediction, want);
    return {
      correct: Object.fromEntries(fields.map((f) => [f, seen[f] === want[f]])),
      verdict: judgeRealism(critic.manifest, prediction, want),
    };
  });
}
