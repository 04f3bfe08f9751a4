/**
 * DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header with up to 15 segment offsets, one segment per
 * byte plane (most significant byte first, then per sample), each PackBits-encoded.
 */
export function decodeRleFrame(frame: Uint8Array, pixelCount: number, bytesPerSample: number, samplesPerPixel: number): Uint8Array {
  if (frame.length < 64) throw new Error(`RLE frame has ${frame.length} bytes, shorter than its 64-byte header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segmentCount = view.getUint32(0, true);
  const expectedSegments = bytesPerSample * samplesPerPixel;
  if (segmentCount !== expectedSegments) {
    throw new Error(`RLE header declares ${segmentCount} segments; ${expectedSegments} expected for ${samplesPerPixel} sample(s) of ${bytesPerSample} byte(s)`);
  }
  const offsets: number[] = [];
  for (let segment = 0; segment < segmentCount; segment++) offsets.push(view.getUint32(4 + 4 * segment, true));
  offsets.push(frame.length);

  // Output is little-endian, pixel-interleaved: sample s, byte b (b=0 least significant).
  const out = new Uint8Array(pixelCount * bytesPerSample * samplesPerPixel);
  const stride = bytesPerSample * samplesPerPixel;
  for (let segment = 0; segment < segmentCount; segment++) {
    const start = offsets[segment] ?? 0;
    const end = offsets[segment + 1] ?? frame.length;
    if (start < 64 || end > frame.length || start > end) throw new Error(`RLE segment ${segment + 1} lies outside the frame (${start}..${end} of ${frame.length})`);
    const sample = Math.floor(segment / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (segment % bytesPerSample); // segments run most significant first
    let target = sample * bytesPerSample + byteInSample;
    let written = 0;
    let position = start;
    const put = (value: number): void => {
      if (written < pixelCount) {
        out[target] = value;
        target += stride;
      }
      written++;
    };
    while (position < end && written < pixelCount) {
      const header = frame[position++] ?? 0;
      const count = header > 127 ? header - 256 : header;
      if (count >= 0) {
        for (let i = 0; i <= count; i++) put(frame[position++] ?? 0);
      } else if (count !== -128) {
        const value = frame[position++] ?? 0;
        for (let i = 0; i < 1 - count; i++) put(value);
      }
    }
    if (written < pixelCount) throw new Error(`RLE segment ${segment + 1} decodes to ${written} of ${pixelCount} bytes`);
  }
  return out;
}
