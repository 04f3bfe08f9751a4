// The shipped detector packages (models/*/detector.json, written by training/) load through the same
// loader as user exports, and their golden fixture decodes to the object the input was rendered with.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadDetector, scoreSample } from "../../src/detection/index.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface Golden {
  params: Record<string, number | string>;
  input: { file: string; shape: number[] };
  output: { file: string; shape: number[] };
}

function readF32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

for (const name of ["road-detector", "brain-detector"]) {
  const packageDir = `${root}models/${name}`;
  const fixtureDir = `${root}test/fixtures/${name}`;
  const available = existsSync(`${packageDir}/detector.json`) && existsSync(`${fixtureDir}/golden.json`);
  if (!available) console.warn(`skipping ${name}: models/${name}/detector.json or its golden fixture is not there yet`);

  describe.skipIf(!available)(`shipped ${name}`, () => {
    it("loads, and finds the golden input's object as the right class where it was rendered", async () => {
      const golden = JSON.parse(readFileSync(`${fixtureDir}/golden.json`, "utf8")) as Golden;
      const detector = await loadDetector(packageDir, { intraOpThreads: 1 });
      try {
        expect(detector.kind).toBe("package");
        const [, channels, height, width] = golden.input.shape as [number, 3, number, number];
        // the fixture input is already the detector's input (0..1 RGB, 64x64): no letterbox padding applies
        const detections = await detector.detect({ width, height, channels, data: readF32(`${fixtureDir}/${golden.input.file}`) });
        const p = golden.params;
        const classValue = String(p[detector.classField ?? ""]);
        const intended =
          "lesionX" in p
            ? (() => {
                const r = (p.lesionRadius as number) * width;
                return { class: classValue, x: (p.lesionX as number) * width - r, y: (p.lesionY as number) * height - r, width: 2 * r, height: 2 * r };
              })()
            : {
                class: classValue,
                x: ((p.hazardCx as number) - (p.hazardW as number) / 2) * width,
                y: ((p.hazardCy as number) - (p.hazardH as number) / 2) * height,
                width: (p.hazardW as number) * width,
                height: (p.hazardH as number) * height,
              };
        const score = scoreSample({ intended: [intended], detections, classMap: detector.classMap, matchIoU: detector.thresholds.matchIoU });
        expect(score.outcome, JSON.stringify({ detections, intended })).toBe("HIT");
      } finally {
        await detector.dispose();
      }
    });
  });
}
