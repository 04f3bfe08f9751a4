// A minimal reader of the few ONNX ModelProto fields the detector loader needs: metadata_props (where
// Ultralytics stores class names; onnxruntime-node exposes no custom metadata) and the graph's declared
// input/output shapes (to refuse an unexpected layout before creating a session or running anything).
//
// Why not a protobuf library: we read four nested messages out of onnx.proto and skip everything else by
// its length prefix, which is ~100 lines of the wire format (protobuf.dev/programming-guides/encoding)
// and needs no generated schema or new dependency. Field numbers are from onnx/onnx.proto (IR v10).
import { DetectorPackageError } from "./errors.ts";

export interface OnnxDim {
  /** A fixed size, or null for a symbolic/unknown dimension. */
  readonly value: number | null;
  /** The symbolic name (e.g. "batch") when the dimension is dynamic. */
  readonly param: string | null;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** TensorProto.DataType (1 = float32); 0 when undeclared. */
  readonly elemType: number;
  /** null when the graph declares no shape. */
  readonly shape: readonly OnnxDim[] | null;
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly producerName: string;
  readonly opsetVersion: number | null;
  readonly metadata: Readonly<Record<string, string>>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

// onnx.proto field numbers
const MODEL = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
const OPSET = { domain: 1, version: 2 } as const;
const GRAPH = { initializer: 5, input: 11, output: 12 } as const;
const TENSOR = { name: 8 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;
const ENTRY = { key: 1, value: 2 } as const;

interface Field {
  readonly number: number;
  readonly wireType: number;
  /** Varint payload (wire type 0). */
  readonly varint: number;
  /** Length-delimited payload (wire type 2). */
  readonly bytes: Uint8Array;
}

class ProtoError extends Error {}

/** Iterates the top-level fields of one message; nested messages are returned as byte views, not parsed. */
function* fields(buffer: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buffer.length) throw new ProtoError("truncated varint");
      const byte = buffer[pos++] as number;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new ProtoError("varint longer than 10 bytes");
  };
  const empty = new Uint8Array(0);
  while (pos < buffer.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === 0) {
      yield { number, wireType, varint: varint(), bytes: empty };
    } else if (wireType === 2) {
      const length = varint();
      if (pos + length > buffer.length) throw new ProtoError(`field ${number} runs past the end of its message`);
      const bytes = buffer.subarray(pos, pos + length);
      pos += length;
      yield { number, wireType, varint: 0, bytes };
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else {
      throw new ProtoError(`unsupported wire type ${wireType} (field ${number})`);
    }
    if (pos > buffer.length) throw new ProtoError("truncated message");
  }
}

const utf8 = new TextDecoder("utf-8");

function readDim(bytes: Uint8Array): OnnxDim {
  let value: number | null = null;
  let param: string | null = null;
  for (const f of fields(bytes)) {
    if (f.number === DIM.value && f.wireType === 0) value = f.varint;
    else if (f.number === DIM.param && f.wireType === 2) param = utf8.decode(f.bytes);
  }
  return { value, param };
}

function readValueInfo(bytes: Uint8Array): OnnxValueInfo {
  let name = "";
  let elemType = 0;
  let shape: OnnxDim[] | null = null;
  for (const f of fields(bytes)) {
    if (f.number === VALUE_INFO.name && f.wireType === 2) name = utf8.decode(f.bytes);
    else if (f.number === VALUE_INFO.type && f.wireType === 2) {
      for (const t of fields(f.bytes)) {
        if (t.number !== TYPE.tensorType || t.wireType !== 2) continue;
        for (const tt of fields(t.bytes)) {
          if (tt.number === TENSOR_TYPE.elemType && tt.wireType === 0) elemType = tt.varint;
          else if (tt.number === TENSOR_TYPE.shape && tt.wireType === 2) {
            shape = [];
            for (const d of fields(tt.bytes)) if (d.number === SHAPE.dim && d.wireType === 2) shape.push(readDim(d.bytes));
          }
        }
      }
    }
  }
  return { name, elemType, shape };
}

/** Reads metadata, opset and graph inputs/outputs from ONNX file bytes; throws `unreadable-onnx` if it is not a ModelProto. */
export function readOnnxModelInfo(bytes: Uint8Array, source = "ONNX file"): OnnxModelInfo {
  try {
    let irVersion = 0;
    let producerName = "";
    let opsetVersion: number | null = null;
    let graph: Uint8Array | null = null;
    const metadata: Record<string, string> = {};
    for (const f of fields(bytes)) {
      if (f.number === MODEL.irVersion && f.wireType === 0) irVersion = f.varint;
      else if (f.number === MODEL.producerName && f.wireType === 2) producerName = utf8.decode(f.bytes);
      else if (f.number === MODEL.graph && f.wireType === 2) graph = f.bytes;
      else if (f.number === MODEL.opsetImport && f.wireType === 2) {
        let domain = "";
        let version = 0;
        for (const o of fields(f.bytes)) {
          if (o.number === OPSET.domain && o.wireType === 2) domain = utf8.decode(o.bytes);
          else if (o.number === OPSET.version && o.wireType === 0) version = o.varint;
        }
        // the default domain ("" or "ai.onnx") carries the opset users talk about
        if (domain === "" || domain === "ai.onnx") opsetVersion = version;
      } else if (f.number === MODEL.metadataProps && f.wireType === 2) {
        let key = "";
        let value = "";
        for (const e of fields(f.bytes)) {
          if (e.number === ENTRY.key && e.wireType === 2) key = utf8.decode(e.bytes);
          else if (e.number === ENTRY.value && e.wireType === 2) value = utf8.decode(e.bytes);
        }
        metadata[key] = value;
      }
    }
    if (irVersion === 0 || graph === null) throw new ProtoError("no ir_version or no graph: not an ONNX ModelProto");
    const inputs: OnnxValueInfo[] = [];
    const outputs: OnnxValueInfo[] = [];
    const initializers = new Set<string>();
    for (const f of fields(graph)) {
      if (f.wireType !== 2) continue;
      if (f.number === GRAPH.input) inputs.push(readValueInfo(f.bytes));
      else if (f.number === GRAPH.output) outputs.push(readValueInfo(f.bytes));
      else if (f.number === GRAPH.initializer) {
        for (const t of fields(f.bytes)) if (t.number === TENSOR.name && t.wireType === 2) initializers.add(utf8.decode(t.bytes));
      }
    }
    // IR < 4 lists initializers among the inputs; they are weights, not feeds.
    return { irVersion, producerName, opsetVersion, metadata, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
  } catch (error) {
    if (error instanceof ProtoError) throw new DetectorPackageError("unreadable-onnx", `${source} is not a readable ONNX model: ${error.message}`, source);
    throw error;
  }
}

/**
 * Ultralytics writes `names` as a Python dict literal: "{0: 'person', 1: 'bicycle', …}". Returns the class
 * names in index order, or null when the string is not such a dict or its indices have gaps.
 */
export function parseUltralyticsNames(names: string): string[] | null {
  const entries = [...names.matchAll(/(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g)];
  if (entries.length === 0) return null;
  const out: string[] = [];
  for (const entry of entries) {
    const index = Number(entry[1]);
    out[index] = (entry[2] ?? entry[3] ?? "").replace(/\\(.)/g, "$1");
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) return null;
  return out;
}
