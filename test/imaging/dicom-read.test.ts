import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DicomError, readDicom, type DicomErrorCode } from "../../src/imaging/dicom/index.ts";
import { buildRleDicom, rleFrame, withoutTransferSyntaxUid } from "./helpers/build-dicom.ts";
import { SHARED_DICOM_DIR, readSharedDicom, sharedDicomAvailable } from "./helpers/shared-dicom.ts";

/** Sum of modality values and a few pixels, taken from pydicom 2.3.1 (numpy/pillow handlers) on the same files. */
const PYDICOM_REFERENCE = {
  "CT_small.dcm": { rows: 128, columns: 128, sum: -1950906, first: [-849, -844, -858, -881, -885] },
  "image_dfl.dcm": { rows: 512, columns: 512, sum: 33322688, first: [213, 213, 213, 213, 213] },
  "JPEG2000.dcm": { rows: 1024, columns: 256, sum: 3527976, first: [0, 0, 0, 0, 0] },
} as const;

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i] ?? 0;
  return total;
}

async function refusal(name: string): Promise<DicomError> {
  const error = await readDicom(readSharedDicom(name)).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, `${name} should be refused`).toBeInstanceOf(DicomError);
  return error as DicomError;
}

describe.skipIf(!sharedDicomAvailable)("readDicom on the shared third-party files", () => {
  it("reads MR_small and its implicit, big-endian, RLE, JPEG-LS and JPEG 2000 variants to identical pixel arrays", async () => {
    const reference = await readDicom(readSharedDicom("MR_small.dcm"));
    expect(reference.rows).toBe(64);
    expect(reference.columns).toBe(64);
    expect(reference.pixels).toBeInstanceOf(Int32Array);
    // pydicom: pixel_array.sum() == 2125338, first pixels 905 1019 1227 1259 761.
    expect(sum(reference.pixels)).toBe(2125338);
    expect(Array.from(reference.pixels.subarray(0, 5))).toEqual([905, 1019, 1227, 1259, 761]);

    for (const variant of ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"]) {
      const image = await readDicom(readSharedDicom(variant));
      expect([image.rows, image.columns], variant).toEqual([64, 64]);
      expect(Array.from(image.pixels), variant).toEqual(Array.from(reference.pixels));
    }
  });

  it("names the transfer syntax it read", async () => {
    expect((await readDicom(readSharedDicom("MR_small_bigendian.dcm"))).transferSyntax).toEqual({ uid: "1.2.840.10008.1.2.2", name: "Explicit VR Big Endian (retired)" });
    expect((await readDicom(readSharedDicom("MR_small_RLE.dcm"))).transferSyntax.name).toBe("RLE Lossless");
  });

  it.each(Object.entries(PYDICOM_REFERENCE))("reads %s to the same modality values as pydicom", async (name, expected) => {
    const image = await readDicom(readSharedDicom(name));
    expect([image.rows, image.columns]).toEqual([expected.rows, expected.columns]);
    expect(sum(image.pixels)).toBe(expected.sum);
    expect(Array.from(image.pixels.subarray(0, 5))).toEqual(expected.first);
  });

  it("applies CT_small's Rescale Intercept to give Hounsfield units", async () => {
    const image = await readDicom(readSharedDicom("CT_small.dcm"));
    expect(image.rescaleIntercept).toBe(-1024);
    expect(image.rescaleSlope).toBe(1);
    expect(image.summary.modality).toBe("CT");
    expect(image.pixels[0]).toBe(175 - 1024);
  });

  it("inflates the deflated transfer syntax", async () => {
    const image = await readDicom(readSharedDicom("image_dfl.dcm"));
    expect(image.transferSyntax.uid).toBe("1.2.840.10008.1.2.1.99");
    expect(image.bitsAllocated).toBe(8);
  });

  it("decodes JPEG Baseline YBR_FULL colour to RGB matching pydicom after its colour conversion", async () => {
    const image = await readDicom(readSharedDicom("SC_rgb_jpeg_dcmtk.dcm"));
    expect(image.photometricInterpretation).toBe("RGB");
    expect(image.samplesPerPixel).toBe(3);
    // pydicom + pillow, convert_color_space(YBR_FULL -> RGB): sum 3832000, (0,0) = 254,0,0, (50,50) = 125,130,255.
    expect(sum(image.pixels)).toBe(3832000);
    const at = (row: number, column: number): number[] => Array.from(image.pixels.subarray((row * 100 + column) * 3, (row * 100 + column) * 3 + 3));
    expect(at(0, 0)).toEqual([254, 0, 0]);
    expect(at(50, 50)).toEqual([125, 130, 255]);
  });

  const refusals: [string, DicomErrorCode, RegExp][] = [
    ["JPGExtended.dcm", "UNSUPPORTED_TRANSFER_SYNTAX", /1\.2\.840\.10008\.1\.2\.4\.51 \(JPEG Extended \(Process 2 & 4\)\).*12-bit/],
    ["MR_truncated.dcm", "TRUNCATED", /ends before its last data element.*\(7FE0,0010\)/],
    ["rtplan_truncated.dcm", "TRUNCATED", /ends before its last data element/],
    ["badVR.dcm", "INVALID_VALUE", /Number of Frames \(0028,0008\) is "1A"/],
    ["no_meta.dcm", "NOT_DICOM", /no "DICM" prefix.*20 08 00 05/],
  ];

  it.each(refusals)("refuses %s with %s and a message naming the problem", async (name, code, message) => {
    const error = await refusal(name);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it("records the transfer syntax in a refusal's details", async () => {
    const error = await refusal("JPGExtended.dcm");
    expect(error.details).toMatchObject({ transferSyntaxUid: "1.2.840.10008.1.2.4.51", transferSyntaxName: "JPEG Extended (Process 2 & 4)" });
  });

  it("reads the bare data set of no_meta.dcm once the stray first byte is gone, as CT_small's pixels", async () => {
    // The file is CT_small's data set preceded by one stray byte; without it, it is a readable bare data set.
    const bare = readSharedDicom("no_meta.dcm").subarray(1);
    const image = await readDicom(bare);
    const ct = await readDicom(readSharedDicom("CT_small.dcm"));
    expect(image.hasFileMeta).toBe(false);
    expect(image.transferSyntax.uid).toBe("1.2.840.10008.1.2.1");
    expect(Array.from(image.pixels)).toEqual(Array.from(ct.pixels));
  });

  it("refuses a frame past the last one", async () => {
    const error = await readDicom(readSharedDicom("MR_small.dcm"), { frame: 1 }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).code).toBe("FRAME_OUT_OF_RANGE");
  });
});

/** Either an image or a DicomError: anything else thrown is a crash. */
async function outcome(bytes: Uint8Array): Promise<"read" | DicomErrorCode> {
  try {
    await readDicom(bytes);
    return "read";
  } catch (thrown) {
    if (thrown instanceof DicomError) return thrown.code;
    throw thrown;
  }
}

describe.skipIf(!sharedDicomAvailable)("readDicom on a file meta header without a Transfer Syntax UID", () => {
  it("infers explicit and implicit VR little endian from the data set and reads MR_small's pixels", async () => {
    const reference = await readDicom(readSharedDicom("MR_small.dcm"));
    for (const [file, syntax] of [
      ["MR_small.dcm", "1.2.840.10008.1.2.1"],
      ["MR_small_implicit.dcm", "1.2.840.10008.1.2"],
    ] as const) {
      const stripped = withoutTransferSyntaxUid(readSharedDicom(file));
      expect(Buffer.from(stripped).includes(Buffer.from(syntax + "\0")), `${file} still names its syntax`).toBe(false);
      const image = await readDicom(stripped);
      expect(image.transferSyntax.uid, file).toBe(syntax);
      expect(Array.from(image.pixels), file).toEqual(Array.from(reference.pixels));
    }
  });

  it("refuses big-endian data it cannot infer as MISSING_ATTRIBUTE naming (0002,0010), not NOT_DICOM", async () => {
    const error = await readDicom(withoutTransferSyntaxUid(readSharedDicom("MR_small_bigendian.dcm"))).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).code).toBe("MISSING_ATTRIBUTE");
    expect((error as DicomError).message).toMatch(/no Transfer Syntax UID \(0002,0010\)/);
  });
});

describe.skipIf(!sharedDicomAvailable)("readDicom never crashes", () => {
  it("reads or refuses with a DicomError every file in the shared folder", async () => {
    const names = readdirSync(SHARED_DICOM_DIR).filter((name) => name.endsWith(".dcm")).sort();
    expect(names.length).toBeGreaterThanOrEqual(15);
    const outcomes = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await outcome(readSharedDicom(name))] as const)));
    expect(outcomes).toEqual({
      "CT_small.dcm": "read",
      "JPEG2000.dcm": "read",
      "JPGExtended.dcm": "UNSUPPORTED_TRANSFER_SYNTAX",
      "MR_small.dcm": "read",
      "MR_small_RLE.dcm": "read",
      "MR_small_bigendian.dcm": "read",
      "MR_small_implicit.dcm": "read",
      "MR_small_jp2klossless.dcm": "read",
      "MR_small_jpeg_ls_lossless.dcm": "read",
      "MR_truncated.dcm": "TRUNCATED",
      "SC_rgb_jpeg_dcmtk.dcm": "read",
      "badVR.dcm": "INVALID_VALUE",
      "image_dfl.dcm": "read",
      "no_meta.dcm": "NOT_DICOM",
      "rtplan_truncated.dcm": "TRUNCATED",
    });
  });

  it("refuses every truncation of the MR_small variants with a DicomError, never another exception", async () => {
    for (const name of ["MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "image_dfl.dcm"]) {
      const bytes = readSharedDicom(name);
      for (let length = 0; length < bytes.length; length += 97) {
        const result = await outcome(bytes.subarray(0, length));
        expect(result, `${name} cut at ${length}`).not.toBe("read");
      }
    }
  });

  it("survives corrupted bytes: each result is an image or a DicomError", async () => {
    // A fixed linear congruential generator so a failure names a reproducible corruption.
    let state = 20261125;
    const random = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (const name of ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "SC_rgb_jpeg_dcmtk.dcm", "CT_small.dcm"]) {
      const original = readSharedDicom(name);
      for (let trial = 0; trial < 60; trial++) {
        const corrupted = original.slice();
        for (let flip = 0; flip < 4; flip++) corrupted[132 + Math.floor(random() * (original.length - 132))] = Math.floor(random() * 256);
        await expect(outcome(corrupted), `${name} trial ${trial}`).resolves.toBeDefined();
      }
    }
    // The codecs still work after whatever the corrupted streams did to them.
    const reference = await readDicom(readSharedDicom("MR_small.dcm"));
    for (const name of ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"]) {
      expect(Array.from((await readDicom(readSharedDicom(name))).pixels), name).toEqual(Array.from(reference.pixels));
    }
    expect(process.exitCode ?? 0).toBe(0);
  });
});

describe("readDicom on bytes that are not DICOM", () => {
  it("refuses an empty file and a PNG signature as NOT_DICOM", async () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])]) {
      const error = await readDicom(bytes).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(DicomError);
      expect((error as DicomError).code).toBe("NOT_DICOM");
    }
  });
});

describe("readDicom on a Number of Frames the pixel data cannot hold", () => {
  const frame = rleFrame([0, 64, 128, 255]);

  it("reads a one-frame RLE file made the same way (the control)", async () => {
    const image = await readDicom(buildRleDicom({ numberOfFrames: 1, fragments: [frame], offsets: [0] }));
    expect(image).toMatchObject({ rows: 2, columns: 2, numberOfFrames: 1 });
    expect(Array.from(image.pixels)).toEqual([0, 64, 128, 255]);
  });

  it("refuses 100,000 declared frames in one fragment with one Basic Offset Table entry as INVALID_VALUE naming Number of Frames", async () => {
    const error = await readDicom(buildRleDicom({ numberOfFrames: 100_000, fragments: [frame], offsets: [0] })).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).code).toBe("INVALID_VALUE");
    expect((error as DicomError).details.attribute).toBe("(0028,0008) NumberOfFrames");
    expect((error as DicomError).message).toMatch(/Number of Frames \(0028,0008\) is 100000, but the Pixel Data holds 1 fragment/);
  });

  it("refuses a Basic Offset Table with fewer entries than frames, though there are enough fragments", async () => {
    const error = await readDicom(buildRleDicom({ numberOfFrames: 2, fragments: [frame, frame], offsets: [0] })).catch((thrown: unknown) => thrown);
    expect((error as DicomError).code).toBe("INVALID_VALUE");
    expect((error as DicomError).message).toMatch(/1 Basic Offset Table entries/);
  });

  it("refuses an image larger than maxPixels as TOO_LARGE before decoding", async () => {
    const error = await readDicom(buildRleDicom({ numberOfFrames: 1, fragments: [frame], offsets: [0] }), { maxPixels: 3 }).catch((thrown: unknown) => thrown);
    expect((error as DicomError).code).toBe("TOO_LARGE");
    expect((error as DicomError).message).toMatch(/2x2 \(4 pixels\); the limit is 3 pixels/);
  });
});
