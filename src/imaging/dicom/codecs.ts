import { createRequire } from "node:module";
import { Decoder as JpegLosslessDecoder } from "jpeg-lossless-decoder-js";

/**
 * Decoders for the encapsulated transfer syntaxes, all shipped inside their npm packages (no download
 * at install or run time): WebAssembly builds of CharLS for JPEG-LS, OpenJPEG for JPEG 2000 and
 * libjpeg-turbo (8-bit) for JPEG Baseline, each loaded on first use only; and jpeg-lossless-decoder-js
 * (plain JavaScript) for JPEG Lossless, Process 14.
 */

export interface DecodedFrame {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  /** A copy of the decoded samples, little-endian, pixel-interleaved for colour. */
  bytes: Uint8Array;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}

type DecoderModule = Record<string, new () => WasmDecoder>;
type DecoderFactory = (options: { print: (text: string) => void; printErr: (text: string) => void }) => Promise<DecoderModule>;

export type CodecName = "jpeg-ls" | "jpeg-2000" | "jpeg-baseline" | "jpeg-lossless";

const CODECS: Record<Exclude<CodecName, "jpeg-lossless">, { module: string; className: string }> = {
  "jpeg-ls": { module: "@cornerstonejs/codec-charls/decodewasmjs", className: "JpegLSDecoder" },
  "jpeg-2000": { module: "@cornerstonejs/codec-openjpeg/decodewasmjs", className: "J2KDecoder" },
  "jpeg-baseline": { module: "@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs", className: "JPEGDecoder" },
};

const require = createRequire(import.meta.url);
const loaded = new Map<Exclude<CodecName, "jpeg-lossless">, Promise<DecoderModule>>();

function loadCodec(codec: Exclude<CodecName, "jpeg-lossless">): Promise<DecoderModule> {
  let pending = loaded.get(codec);
  if (!pending) {
    const factory = require(CODECS[codec].module) as DecoderFactory;
    // OpenJPEG prints "[INFO] …" lines for every frame; a server's stdout is not the place for them.
    pending = factory({ print: () => undefined, printErr: () => undefined });
    loaded.set(codec, pending);
  }
  return pending;
}

/** Decodes one encapsulated frame; throws whatever the codec throws (the caller turns it into a DicomError). */
export async function decodeFrame(codec: CodecName, encoded: Uint8Array): Promise<DecodedFrame> {
  if (codec === "jpeg-lossless") return decodeJpegLossless(encoded);
  const wasm = await loadCodec(codec);
  const Decoder = wasm[CODECS[codec].className];
  if (!Decoder) throw new Error(`${CODECS[codec].module} has no ${CODECS[codec].className}`);
  // An Emscripten module that calls exit() sets process.exitCode; a bad stream must not change how
  // the server process ends.
  const exitCode = process.exitCode;
  let decoder: WasmDecoder | undefined;
  try {
    decoder = new Decoder();
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    // The decoded buffer lives in WebAssembly memory that `delete` frees: copy it out first.
    const bytes = decoder.getDecodedBuffer().slice();
    return { width: info.width, height: info.height, bitsPerSample: info.bitsPerSample, componentCount: info.componentCount, bytes };
  } catch (thrown) {
    process.exitCode = exitCode;
    // After an abort the instance is unusable; the next frame gets a fresh one.
    if (thrown instanceof WebAssembly.RuntimeError || /abort/i.test(String(thrown))) loaded.delete(codec);
    // C++ exceptions arrive as bare numbers (a pointer into WebAssembly memory).
    if (typeof thrown === "number") throw new Error(`${CODECS[codec].className} rejected the stream (C++ exception)`);
    throw thrown;
  } finally {
    try {
      decoder?.delete();
    } catch {
      // an aborted instance cannot free itself; it is discarded with its module
    }
  }
}

function decodeJpegLossless(encoded: Uint8Array): DecodedFrame {
  const decoder = new JpegLosslessDecoder();
  // The decoder reads from an ArrayBuffer; give it a copy that starts at the stream.
  const stream = encoded.slice().buffer;
  const samples = decoder.decode(stream, 0, stream.byteLength);
  const bytesPerSample = samples.BYTES_PER_ELEMENT;
  const bytes = new Uint8Array(samples.length * bytesPerSample);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    if (bytesPerSample === 1) bytes[i] = samples[i] ?? 0;
    else view.setUint16(2 * i, samples[i] ?? 0, true);
  }
  return { width: decoder.xDim, height: decoder.yDim, bitsPerSample: bytesPerSample * 8, componentCount: decoder.numComp, bytes };
}

/** The sample precision from a JPEG stream's SOF marker (ITU-T T.81 B.2.2), or undefined if none is found. */
export function jpegSamplePrecision(encoded: Uint8Array): number | undefined {
  let position = 2; // after SOI
  while (position + 4 < encoded.length) {
    if (encoded[position] !== 0xff) return undefined;
    const marker = encoded[position + 1] ?? 0;
    const length = ((encoded[position + 2] ?? 0) << 8) | (encoded[position + 3] ?? 0);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return encoded[position + 4];
    }
    position += 2 + length;
  }
  return undefined;
}
