import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DicomError, generateUid, readDicom, writeSyntheticDicom } from "../../src/imaging/dicom/index.ts";
import { buildDicom, littleEndian16 } from "./helpers/build-dicom.ts";
import { dcmdumpAvailable, skipMessage } from "./helpers/dicom-tools.ts";

/**
 * Compressed files made here by dcmtk's encoders (dcmcrle, dcmcjpeg, dcmcjpls) from native files made
 * here too, so the decoders are checked on independent encodings of known pixels — multi-frame, signed
 * and colour included — without third-party data.
 */
const dcmtkAvailable = dcmdumpAvailable; // dcmcrle, dcmcjpeg and dcmcjpls come in the same Debian package

const directory = mkdtempSync(join(tmpdir(), "rareforge-dcmtk-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function encode(tool: string, options: string[], source: Uint8Array, name: string): Uint8Array {
  const input = join(directory, `${name}-native.dcm`);
  const output = join(directory, `${name}-${tool}.dcm`);
  writeFileSync(input, source);
  const result = spawnSync(tool, [...options, input, output], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr}`);
  return new Uint8Array(readFileSync(output));
}

const rows = 32;
const columns = 24;
const slice = new Uint16Array(rows * columns).map((_, index) => (index * 97) % 4096);
const synthetic = writeSyntheticDicom({
  pixels: slice,
  rows,
  columns,
  modality: "MR",
  windowCenter: 2048,
  windowWidth: 4096,
  studyUid: generateUid(),
  seriesUid: generateUid(),
  instanceNumber: 1,
  provenance: { seed: 1 },
});

// Three frames of signed 16-bit values, positive and negative.
const signedFrames = [0, 1, 2].map((frame) => Array.from({ length: 8 * 6 }, (_, index) => (index - 24) * (frame + 1) * 37));
const multiFrame = buildDicom({ rows: 8, columns: 6, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, numberOfFrames: 3, pixelData: littleEndian16(signedFrames.flat()) });

const rgb = Array.from({ length: 6 * 5 * 3 }, (_, index) => (index * 53) % 256);
const colour = buildDicom({ rows: 6, columns: 5, samplesPerPixel: 3, photometricInterpretation: "RGB", planarConfiguration: 0, bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: new Uint8Array(rgb) });

const encodings: [string, string, string[], string][] = [
  ["RLE Lossless", "dcmcrle", [], "1.2.840.10008.1.2.5"],
  ["JPEG Lossless SV1", "dcmcjpeg", ["+e1"], "1.2.840.10008.1.2.4.70"],
  ["JPEG Lossless (Process 14)", "dcmcjpeg", ["+el"], "1.2.840.10008.1.2.4.57"],
  ["JPEG-LS Lossless", "dcmcjpls", [], "1.2.840.10008.1.2.4.80"],
];

describe.skipIf(!dcmtkAvailable)("readDicom on files compressed by dcmtk", () => {
  it.each(encodings)("decodes %s of a RareForge slice to the same pixels", async (_, tool, options, transferSyntax) => {
    const image = await readDicom(encode(tool, options, synthetic, `slice-${tool}${options.join("")}`));
    expect(image.transferSyntax.uid).toBe(transferSyntax);
    expect(Array.from(image.pixels)).toEqual(Array.from(slice));
  });

  it.each(encodings)("decodes each frame of a signed multi-frame image in %s", async (_, tool, options) => {
    const bytes = encode(tool, options, multiFrame, `frames-${tool}${options.join("")}`);
    for (const [frame, expected] of signedFrames.entries()) {
      const image = await readDicom(bytes, { frame });
      expect(image.numberOfFrames).toBe(3);
      expect(Array.from(image.pixels), `frame ${frame}`).toEqual(expected);
    }
  });

  it.each(encodings.filter(([name]) => !name.startsWith("JPEG Lossless")))("decodes colour in %s to the original RGB", async (_, tool, options) => {
    const image = await readDicom(encode(tool, options, colour, `colour-${tool}${options.join("")}`));
    expect(image.photometricInterpretation).toBe("RGB");
    expect(Array.from(image.pixels)).toEqual(rgb);
  });

  it("refuses colour JPEG Lossless rather than risk a wrong last pixel", async () => {
    // This very image lost its last pixel in jpeg-lossless-decoder-js 2.1.2.
    const error = await readDicom(encode("dcmcjpeg", ["+e1"], colour, "colour-lossless")).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).code).toBe("UNSUPPORTED_PIXEL_FORMAT");
    expect((error as DicomError).message).toMatch(/1\.2\.840\.10008\.1\.2\.4\.70 \(JPEG Lossless/);
  });
});

// Frames larger than the fragment size: each frame's codestream spans several fragments, and with an empty
// Basic Offset Table only the codestreams' own start and end markers say where a frame begins.
const bigFrames = [0, 1, 2].map((frame) => Array.from({ length: 64 * 64 }, (_, index) => (((index * 2654435761) >>> (frame + 7)) % 4000) - 2000));
const bigMultiFrame = buildDicom({ rows: 64, columns: 64, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, numberOfFrames: 3, pixelData: littleEndian16(bigFrames.flat()) });

describe.skipIf(!dcmtkAvailable)("multi-frame JPEG-LS split over fragments without a Basic Offset Table", () => {
  it.each([
    ["an empty offset table", ["+fs", "1", "-ot"]],
    ["an offset table", ["+fs", "1", "+ot"]],
  ])("decodes every frame with %s", async (label, options) => {
    const bytes = encode("dcmcjpls", options, bigMultiFrame, `fragments-${label.replace(/ /g, "-")}`);
    const dump = spawnSync("dcmdump", [join(directory, `fragments-${label.replace(/ /g, "-")}-dcmcjpls.dcm`)], { encoding: "utf8" }).stdout;
    const fragments = Number(/PixelSequence #=(\d+)/.exec(dump)?.[1]) - 1; // the first item is the offset table
    expect(fragments).toBeGreaterThan(3 * 2);
    for (const [frame, expected] of bigFrames.entries()) {
      const image = await readDicom(bytes, { frame });
      expect(Array.from(image.pixels), `frame ${frame}`).toEqual(expected);
    }
  });

  it("still refuses fragments whose frame boundaries no marker shows", async () => {
    // JPEG-LS fragments with their first frame's start marker removed: no frame can be located
    const bytes = encode("dcmcjpls", ["+fs", "1", "-ot"], bigMultiFrame, "fragments-broken");
    const broken = bytes.slice();
    for (let i = 0; i + 3 < broken.length; i++) {
      if (broken[i] === 0xff && broken[i + 1] === 0xd8 && broken[i + 2] === 0xff && broken[i + 3] === 0xf7) {
        broken[i + 1] = 0x00; // the first SOI is no longer one
        break;
      }
    }
    const error = await readDicom(broken, { frame: 1 }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).code).toBe("UNSUPPORTED_PIXEL_FORMAT");
    expect((error as DicomError).message).toMatch(/frame boundaries are ambiguous/);
  });
});
if (!dcmtkAvailable) describe.skip(skipMessage("dcmtk encoders (dcmcrle, dcmcjpeg, dcmcjpls)", "dcmtk"), () => undefined);
