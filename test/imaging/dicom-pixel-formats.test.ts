import { describe, expect, it } from "vitest";
import { DicomError, generateUid, readDicom, writeSyntheticDicom } from "../../src/imaging/dicom/index.ts";
import { buildDicom, littleEndian16, littleEndian32, stripFileMeta } from "./helpers/build-dicom.ts";

async function refusalCode(bytes: Uint8Array, frame?: number): Promise<string> {
  const thrown = await readDicom(bytes, frame === undefined ? {} : { frame }).then(
    () => "read",
    (error: unknown) => (error instanceof DicomError ? error.code : `crash: ${String(error)}`),
  );
  return thrown;
}

describe("readDicom honours the Image Pixel module", () => {
  it("selects a frame of a multi-frame image", async () => {
    const frames = [
      [1, 2, 3, 4],
      [10, 20, 30, 40],
      [100, 200, 300, 400],
    ];
    const bytes = buildDicom({ rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 0, numberOfFrames: 3, pixelData: littleEndian16(frames.flat()) });
    for (const [index, expected] of frames.entries()) {
      const image = await readDicom(bytes, { frame: index });
      expect(image.numberOfFrames).toBe(3);
      expect(image.frame).toBe(index);
      expect(Array.from(image.pixels)).toEqual(expected);
    }
    expect(await refusalCode(bytes, 3)).toBe("FRAME_OUT_OF_RANGE");
  });

  it("keeps only Bits Stored and sign-extends when Pixel Representation is 1", async () => {
    // 12 bits stored in 16: the top nibble holds junk (e.g. overlay bits) that must not leak into values.
    const stored = [0x0000, 0x07ff, 0x0800, 0x0fff, 0xf001];
    const signed = await readDicom(buildDicom({ rows: 1, columns: 5, bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 1, pixelData: littleEndian16(stored) }));
    expect(Array.from(signed.pixels)).toEqual([0, 2047, -2048, -1, 1]);
    const unsigned = await readDicom(buildDicom({ rows: 1, columns: 5, bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 0, pixelData: littleEndian16(stored) }));
    expect(Array.from(unsigned.pixels)).toEqual([0, 2047, 2048, 4095, 1]);
  });

  it("reads the stored bits from High Bit, not always from bit 0", async () => {
    // Bits Stored 8, High Bit 11: the value sits in bits 4..11.
    const image = await readDicom(buildDicom({ rows: 1, columns: 2, bitsAllocated: 16, bitsStored: 8, highBit: 11, pixelRepresentation: 0, pixelData: littleEndian16([0x0ff0, 0xf015]) }));
    expect(Array.from(image.pixels)).toEqual([0xff, 0x01]);
  });

  it("applies Rescale Slope and Intercept, as floats when they are not integers", async () => {
    const integer = await readDicom(buildDicom({ rows: 1, columns: 3, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 0, rescaleSlope: 2, rescaleIntercept: -1024, pixelData: littleEndian16([0, 512, 1000]) }));
    expect(integer.pixels).toBeInstanceOf(Int32Array);
    expect(Array.from(integer.pixels)).toEqual([-1024, 0, 976]);
    const fractional = await readDicom(buildDicom({ rows: 1, columns: 3, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, rescaleSlope: 0.5, rescaleIntercept: -10.25, pixelData: littleEndian16([0, 3, -4]) }));
    expect(fractional.pixels).toBeInstanceOf(Float32Array);
    expect(Array.from(fractional.pixels)).toEqual([-10.25, -8.75, -12.25]);
  });

  it("reads 8-bit and signed 32-bit samples", async () => {
    const eight = await readDicom(buildDicom({ rows: 2, columns: 2, bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: new Uint8Array([0, 127, 128, 255]) }));
    expect(Array.from(eight.pixels)).toEqual([0, 127, 128, 255]);
    const thirtyTwo = await readDicom(buildDicom({ rows: 1, columns: 3, bitsAllocated: 32, bitsStored: 32, pixelRepresentation: 1, pixelData: littleEndian32([-100000, 0, 2147483647]) }));
    expect(Array.from(thirtyTwo.pixels)).toEqual([-100000, 0, 2147483647]);
  });

  it("interleaves planar RGB (Planar Configuration 1)", async () => {
    // Two pixels: red plane, green plane, blue plane.
    const planar = new Uint8Array([255, 0, 0, 255, 10, 20]);
    const image = await readDicom(buildDicom({ rows: 1, columns: 2, samplesPerPixel: 3, photometricInterpretation: "RGB", planarConfiguration: 1, bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: planar }));
    expect(image.photometricInterpretation).toBe("RGB");
    expect(Array.from(image.pixels)).toEqual([255, 0, 10, 0, 255, 20]);
  });

  it("converts native YBR_FULL to RGB (PS3.3 C.7.6.3.1.2)", async () => {
    // Y=76 Cb=85 Cr=255 is pure red; Y=128 Cb=128 Cr=128 is mid grey.
    const image = await readDicom(buildDicom({ rows: 1, columns: 2, samplesPerPixel: 3, photometricInterpretation: "YBR_FULL", planarConfiguration: 0, bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: new Uint8Array([76, 85, 255, 128, 128, 128]) }));
    expect(image.photometricInterpretation).toBe("RGB");
    expect(Array.from(image.pixels)).toEqual([254, 0, 0, 128, 128, 128]);
  });

  it("reports MONOCHROME1 as it is, leaving the inversion to display", async () => {
    const image = await readDicom(buildDicom({ rows: 1, columns: 2, photometricInterpretation: "MONOCHROME1", bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: new Uint8Array([0, 255]) }));
    expect(image.photometricInterpretation).toBe("MONOCHROME1");
    expect(Array.from(image.pixels)).toEqual([0, 255]);
  });

  it.each<[string, Parameters<typeof buildDicom>[0], string]>([
    ["Bits Stored above Bits Allocated", { rows: 1, columns: 1, bitsAllocated: 8, bitsStored: 12, pixelRepresentation: 0, pixelData: new Uint8Array(2) }, "INVALID_VALUE"],
    ["Bits Allocated 12", { rows: 1, columns: 2, bitsAllocated: 12, bitsStored: 12, pixelRepresentation: 0, pixelData: new Uint8Array(4) }, "UNSUPPORTED_PIXEL_FORMAT"],
    ["PALETTE COLOR", { rows: 1, columns: 2, photometricInterpretation: "PALETTE COLOR", bitsAllocated: 8, bitsStored: 8, pixelRepresentation: 0, pixelData: new Uint8Array(2) }, "UNSUPPORTED_PIXEL_FORMAT"],
    ["pixel data shorter than the frames", { rows: 4, columns: 4, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 0, numberOfFrames: 2, pixelData: new Uint8Array(48) }, "TRUNCATED"],
  ])("refuses %s", async (_, pixel, code) => {
    expect(await refusalCode(buildDicom(pixel))).toBe(code);
  });
});

describe("readDicom without preamble and file meta", () => {
  it("reads a bare Explicit VR Little Endian data set, here one of RareForge's own files stripped of its meta", async () => {
    const pixels = new Uint16Array(8 * 8).map((_, index) => index * 500);
    const part10 = writeSyntheticDicom({ pixels, rows: 8, columns: 8, modality: "MR", windowCenter: 16000, windowWidth: 32000, studyUid: generateUid(), seriesUid: generateUid(), instanceNumber: 1, provenance: {} });
    const bare = stripFileMeta(part10);
    expect(bare[0]).toBe(0x08); // starts at (0008,0005)
    const image = await readDicom(bare);
    expect(image.hasFileMeta).toBe(false);
    expect(Array.from(image.pixels)).toEqual(Array.from(pixels));
  });
});
