// Pictures whose headers declare a size their data does not have: a tiny file that asks a decoder for a
// huge raster. Made by hand from a small valid picture with its size fields patched.
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";

/** CRC-32 (ISO-HDLC, the PNG chunk CRC: PNG spec, annex D). */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A 4×4 grey PNG (a few dozen bytes of IDAT) whose IHDR says width × height, with a correct chunk CRC. */
export function pngDeclaring(width: number, height: number): Uint8Array {
  const png = encodePng({ width: 4, height: 4, channels: 1, depth: 8, data: new Uint8Array(16).fill(255) }).slice();
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  // signature (8) | IHDR length (4) | "IHDR" (4) | width, height, depth, colour, … (13) | CRC over type + data
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29)));
  return png;
}

/** An 8×8 baseline JPEG whose SOF0 frame header says width × height. */
export function jpegDeclaring(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(jpeg.encode({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(200) }, 90).data);
  for (let offset = 2; offset + 9 <= bytes.length; ) {
    const marker = bytes[offset + 1]!;
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    if (marker === 0xc0) {
      // FFC0 | length | precision | height (2) | width (2)
      bytes.set([height >> 8, height & 0xff, width >> 8, width & 0xff], offset + 5);
      return bytes;
    }
    offset += 2 + length;
  }
  throw new Error("no SOF0 in the encoded JPEG");
}
