// jpeg-lossless-decoder-js 2.1.2 names release/lossless.d.ts in package.json but does not ship it.
declare module "jpeg-lossless-decoder-js" {
  export class Decoder {
    constructor(buffer?: ArrayBuffer, numBytes?: number);
    /** Decodes a JPEG Lossless (Process 14) stream; samples are 8- or 16-bit, components interleaved. */
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
    xDim: number;
    yDim: number;
    numComp: number;
    precision: number;
    numBytes: number;
  }
}
