// FLOPs of one denoiser row, counted from the ONNX graph as onnxruntime runs it: the session is opened with
// graph optimisation off (so every node is an original ONNX op) and profiling on, run once with a batch of one
// row, and each Conv, ConvTranspose, MatMul, Gemm and Einsum node's input/output shapes are read from the
// profile. A multiply-add counts as 2 FLOP; everything else (norms, activations, adds, softmax, resizes) is
// left out, so the count — and the utilisation derived from it — is a lower bound.
//
// Why the profile and not onnx.shape_inference: the shipped denoisers compute GroupNorm's reshapes from
// Shape ops, where static inference loses every shape after the first norm; the profile has the real ones.
// Why onnxruntime is imported here and not through src/runtime: this is a measuring tool that needs options
// (profiling, optimisation off) the product never sets.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";

export interface FlopCount {
  readonly flopPerRow: number;
  readonly byOp: Readonly<Record<string, number>>;
  /** Nodes of a counted kind whose cost could not be worked out (an Einsum without its equation). */
  readonly uncounted: readonly string[];
  readonly method: string;
}

interface ProfileEvent {
  cat: string;
  name: string;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
const shapeOf = (entry: Record<string, number[]> | undefined): number[] => (entry ? (Object.values(entry)[0] ?? []) : []);

/** Multiply-adds of one node from its operand shapes; null for ops that are not counted. */
export function multiplyAdds(op: string, inputs: readonly (readonly number[])[], output: readonly number[], equation?: string): number | null {
  const [a = [], b = []] = inputs;
  switch (op) {
    case "Conv": // weight [Cout, Cin/group, kh, kw]: each output value is one dot product over Cin/group x kh x kw
      return product(output) * product(b.slice(1));
    case "ConvTranspose": // weight [Cin, Cout/group, kh, kw]: each input value scatters into Cout/group x kh x kw
      return product(a) * product(b.slice(1));
    case "MatMul":
    case "Gemm": // output [.., M, N], each value a dot product over K (A's last dim; Gemm's transA is not used by these graphs)
      return product(output) * (a[a.length - 1] ?? 0);
    case "Einsum": {
      // letters summed over (in an input, not in the output) multiply every output value's cost
      if (!equation) return null;
      const [lhs = "", out = ""] = equation.replaceAll(" ", "").split("->");
      const operands = lhs.split(",");
      const size = new Map<string, number>();
      operands.forEach((letters, k) => [...letters].forEach((letter, i) => size.set(letter, inputs[k]?.[i] ?? 1)));
      const summed = [...size.keys()].filter((letter) => !out.includes(letter));
      return product(output) * product(summed.map((letter) => size.get(letter) ?? 1));
    }
    default:
      return null;
  }
}

/**
 * Einsum equations by node name: the profile's events carry no attributes, so they are read from the file with
 * Debian's python3-onnx (/usr/bin/python3). Without it Einsum nodes are left uncounted (and say so).
 */
function einsumEquations(onnxPath: string): Map<string, string> | null {
  const script = "import json,sys,onnx; m=onnx.load(sys.argv[1]); print(json.dumps({n.name: a.s.decode() for n in m.graph.node if n.op_type == 'Einsum' for a in n.attribute if a.name == 'equation'}))";
  const result = spawnSync("/usr/bin/python3", ["-c", script, onnxPath], { encoding: "utf8" });
  return result.status === 0 ? new Map(Object.entries(JSON.parse(result.stdout) as Record<string, string>)) : null;
}

export async function countDenoiserFlops(onnxPath: string, feeds: Record<string, { type: "float32"; data: Float32Array; dims: number[] }>): Promise<FlopCount> {
  const equations = einsumEquations(onnxPath);
  const uncounted: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "rf-flops-"));
  try {
    const session = await ort.InferenceSession.create(onnxPath, { graphOptimizationLevel: "disabled", enableProfiling: true, profileFilePrefix: join(dir, "profile"), intraOpNumThreads: 1 });
    const tensors = Object.fromEntries(Object.entries(feeds).map(([name, f]) => [name, new ort.Tensor(f.type, f.data, f.dims)]));
    await session.run(tensors);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.startsWith("profile"));
    if (!file) throw new Error(`onnxruntime wrote no profile into ${dir}`);
    const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as ProfileEvent[];
    const byOp: Record<string, number> = {};
    for (const event of events) {
      if (event.cat !== "Node" || !event.name.endsWith("_kernel_time") || !event.args?.op_name) continue;
      const op = event.args.op_name;
      const inputs = (event.args.input_type_shape ?? []).map(shapeOf);
      const output = shapeOf(event.args.output_type_shape?.[0]);
      const node = event.name.slice(0, -"_kernel_time".length);
      const macs = multiplyAdds(op, inputs, output, op === "Einsum" ? equations?.get(node) : undefined);
      if (macs !== null) byOp[op] = (byOp[op] ?? 0) + 2 * macs;
      else if (op === "Einsum") uncounted.push(node);
    }
    return { flopPerRow: Object.values(byOp).reduce((s, v) => s + v, 0), byOp, uncounted, method: "onnxruntime profile (optimisation off, batch 1): 2 x multiply-adds of Conv/ConvTranspose/MatMul/Gemm/Einsum" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
