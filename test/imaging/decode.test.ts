// Reference images and masks: PNG (8/16-bit, gray, palette) or JPEG of any size, to the model's grid.
import { encode as encodeJpeg } from "jpeg-js";
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { decodeImage, imageFromPixels, ImageDecodeError, maskToSampleGrid, readImageHeader, normaliseStoredRange, resizeBilinear, toModelSpace } from "../../src/imaging/index.ts";
import { encodePng, tensorToPixels } from "../../src/imaging/png.ts";
import { jpegDeclaring, pngDeclaring } from "./helpers/forged-images.ts";

describe("reference images", () => {
  it("decodes 16-bit grayscale and palette PNGs to 0..1", () => {
    const gray16 = decodeImage(encode({ width: 2, height: 1, channels: 1, depth: 16, data: new Uint16Array([0, 65535]) }));
    expect(gray16).toMatchObject({ width: 2, height: 1, channels: 1 });
    expect(Array.from(gray16.data)).toEqual([0, 1]);
    const palette = decodeImage(
      encode({ width: 2, height: 1, channels: 1, depth: 8, data: new Uint8Array([0, 1]), palette: [[255, 0, 0], [0, 0, 255]] }),
    );
    expect(palette.channels).toBe(3);
    expect(Array.from(palette.data)).toEqual([1, 0, 0, 0, 0, 1]); // planar R, G, B
  });

  it("decodes JPEG (RGBA -> RGB) of any size", () => {
    const rgba = new Uint8Array(30 * 20 * 4).fill(200);
    const image = decodeImage(new Uint8Array(encodeJpeg({ width: 30, height: 20, data: rgba }, 90).data));
    expect(image).toMatchObject({ width: 30, height: 20, channels: 3 });
    expect(Math.abs((image.data[0] ?? 0) - 200 / 255)).toBeLessThan(0.02);
  });

  it("refuses bytes that are not an image, and a truncated PNG", () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4]))).toThrow(ImageDecodeError);
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4]), "mask")).toThrow(/^mask is not a PNG or JPEG image/);
    const png = encode({ width: 4, height: 4, channels: 3, depth: 8, data: new Uint8Array(48) });
    expect(() => decodeImage(png.slice(0, 30))).toThrow(/damaged PNG/);
  });

  it("reads width and height from the PNG IHDR and the JPEG SOF0 header without decoding", () => {
    expect(readImageHeader(pngDeclaring(20000, 20000))).toEqual({ format: "PNG", width: 20000, height: 20000 });
    expect(readImageHeader(jpegDeclaring(30000, 20000))).toEqual({ format: "JPEG", width: 30000, height: 20000 });
  });

  it("refuses a small PNG whose IHDR declares 20000x20000 from its header, naming the size and the limit", () => {
    const png = pngDeclaring(20000, 20000);
    expect(png.length).toBeLessThan(200);
    expect(() => decodeImage(png, "mask")).toThrow(ImageDecodeError);
    expect(() => decodeImage(png, "mask")).toThrow("mask is 20000x20000 (400000000 pixels); the limit is 40000000 pixels (RAREFORGE_MAX_IMAGE_PIXELS)");
  });

  it("refuses a JPEG whose SOF0 declares 20000x20000 from its header", () => {
    expect(() => decodeImage(jpegDeclaring(20000, 20000))).toThrow(/^reference image is 20000x20000 \(400000000 pixels\); the limit is 40000000 pixels/);
  });

  it("applies the limit it is given: 4x4 decodes under 16 pixels' limit and is refused under 15", () => {
    const png = encode({ width: 4, height: 4, channels: 1, depth: 8, data: new Uint8Array(16) });
    expect(decodeImage(png, "mask", 16)).toMatchObject({ width: 4, height: 4 });
    expect(() => decodeImage(png, "mask", 15)).toThrow(/4x4 \(16 pixels\); the limit is 15 pixels/);
  });

  it("refuses an IHDR with a bit depth its colour type does not allow", () => {
    const png = pngDeclaring(4, 4).slice();
    png[24] = 3; // grey allows 1, 2, 4, 8, 16
    expect(() => readImageHeader(png)).toThrow(/damaged PNG: IHDR declares colour type 0 with bit depth 3/);
  });

  it("pixels in memory decode to exactly what their PNG decodes to (8-bit RGB and 16-bit gray)", () => {
    const rgb = { width: 3, height: 2, channels: 3 as const, depth: 8 as const, data: Uint8Array.from({ length: 18 }, (_, i) => (i * 37) % 256) };
    const gray = { width: 2, height: 2, channels: 1 as const, depth: 16 as const, data: Uint16Array.from([0, 4095, 65535, 1234]) };
    for (const pixels of [rgb, gray]) {
      const fromPixels = imageFromPixels(pixels);
      const fromPng = decodeImage(encodePng(pixels));
      expect(fromPixels).toMatchObject({ width: fromPng.width, height: fromPng.height, channels: fromPng.channels, bitDepth: fromPng.bitDepth });
      expect(Array.from(fromPixels.data)).toEqual(Array.from(fromPng.data));
    }
  });

  it("resizes bilinearly and converts channels and value range", () => {
    const image = { width: 2, height: 1, channels: 1 as const, data: new Float32Array([0, 1]) };
    expect(Array.from(resizeBilinear(image, 4, 1).data)).toEqual([0, 0.25, 0.75, 1]);
    const rgb = toModelSpace(image, 3, [-1, 1]);
    expect(Array.from(rgb)).toEqual([-1, 1, -1, 1, -1, 1]);
  });

  it("masks threshold at one half after resizing", () => {
    const mask = { width: 2, height: 2, channels: 1 as const, data: new Float32Array([1, 0, 1, 0]) };
    expect(Array.from(maskToSampleGrid(mask, 4, 2))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
  });

  it("reads a 16-bit output of a stored-range model back into the same model values", () => {
    // what the runtime writes for an MR model: valueRange [-1, 1] onto stored 0..4095 in a 16-bit PNG
    const original = new Float32Array([-1, -0.5, 0, 0.25, 1, 0.9]);
    const pixels = tensorToPixels({ data: original, channels: 1, height: 2, width: 3 }, { format: "png-gray16", valueRange: [-1, 1], storedRange: [0, 4095] });
    const decoded = normaliseStoredRange(decodeImage(encodePng(pixels)), [0, 4095]);
    const back = toModelSpace(decoded, 1, [-1, 1]);
    for (let i = 0; i < original.length; i++) expect(Math.abs((back[i] ?? 0) - (original[i] ?? 0))).toBeLessThan(1 / 4095 + 1e-6);
    // an 8-bit reference is unaffected by the stored range
    const eight = decodeImage(encode({ width: 1, height: 1, channels: 1, depth: 8, data: new Uint8Array([255]) }));
    expect(normaliseStoredRange(eight, [0, 4095]).data[0]).toBe(1);
  });
});
