"""Post-training static int8 quantization of a shipped denoiser, in QDQ form (python3-onnx + numpy only).

    /usr/bin/python3 training/quantize/quantize.py expose <package> <out.onnx>
        A calibration copy of models/<package>/denoiser.onnx: every Conv's input and output added as graph
        outputs, and <out.onnx>.tensors.json naming them. Never committed (write it to a temp dir);
        training/quantize/calibrate.ts runs the product's sampler on it and writes the ranges JSON.
    /usr/bin/python3 training/quantize/quantize.py build <package> <ranges.json> <out.onnx> [--stat max|p9999] [--float first,last]
        The QDQ model: per Conv, weights int8 symmetric per output channel (axis 0), bias int32 at
        scale s_x * s_w, input and output uint8 asymmetric from the calibrated range, so onnxruntime's
        QDQ transformer fuses DQ -> Conv -> Q into QLinearConv (u8s8: the MLAS kernels' fast path on
        x86 with AVX-512 VNNI). --float keeps the first and/or last convolution, or the attention block's
        1x1 convolutions, in float32.
        Everything else (GroupNorm as InstanceNormalization, SiLU, attention Einsum/Softmax, the Gemm
        layers of the time and condition embeddings, which act on [batch, C] vectors and cost nothing)
        stays float. Same bytes on every run for the same inputs.
    /usr/bin/python3 training/quantize/quantize.py package <package> <int8.onnx> <ranges.json> <out dir> --stat S --float F [--results bench/int8/results.json]
        [--throughput-results bench/throughput/results-….json] [--fast SAMPLER:STEPS --fast-evidence TEXT]
        A model package of its own beside the base: the base's model.json with its own name (<package>-int8)
        and version, the int8 file's sha256, `derivedFrom` (base name, version, denoiser sha256, method,
        calibration) and, from the bench's results, an `evaluation` of the int8 model's own measured figures.
    /usr/bin/python3 training/quantize/quantize.py ops <model.onnx>
        Counts the model's nodes by op type as JSON (used on onnxruntime's optimized graph to check fusion).
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT_CHOICES = {"first", "last", "attention"}
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training"))
from rareforge_train.derived import carry_condition_files, int8_evaluation, sha256, throughput_evaluation, write_manifest  # noqa: E402  (torch-free)


def load_denoiser(package):
    manifest = json.load(open(os.path.join(ROOT, "models", package, "model.json")))
    return onnx.load(os.path.join(ROOT, "models", package, manifest["denoiser"]["file"])), manifest


def convs(graph):
    return [n for n in graph.node if n.op_type == "Conv"]


def expose(package, out):
    model, _ = load_denoiser(package)
    graph = model.graph
    inputs = {i.name for i in graph.input}
    present = {o.name for o in graph.output}
    tensors = []
    for node in convs(graph):
        tensors.append({"node": node.name, "input": node.input[0], "output": node.output[0]})
        for name in (node.input[0], node.output[0]):
            # graph inputs and outputs are read from the feeds and the outputs as they are
            if name not in inputs and name not in present:
                graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
                present.add(name)
    onnx.save(model, out)
    json.dump({"package": package, "convs": tensors}, open(out + ".tensors.json", "w"), indent=1)
    print(f"{out}: {len(tensors)} Conv nodes, {len(graph.output)} outputs")


def activation_params(lo, hi):
    """uint8 asymmetric: the range widened to hold 0 (so zero padding is exact), 255 steps."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = np.float32((hi - lo) / 255.0 if hi > lo else 1.0)
    zero_point = np.uint8(np.clip(np.round(-lo / scale), 0, 255))
    return scale, zero_point


def build(package, ranges_path, out, stat, keep_float):
    model, _ = load_denoiser(package)
    ranges = json.load(open(ranges_path))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    conv_nodes = convs(graph)
    skipped = {conv_nodes[0].name if "first" in keep_float else None, conv_nodes[-1].name if "last" in keep_float else None}
    if "attention" in keep_float:
        skipped |= {n.name for n in conv_nodes if "attn" in n.name}
    skipped |= {name for name in keep_float if name.startswith("/")}  # Conv node names, as listed by expose
    new_inits, quantized = [], []
    q_of = {}  # activation tensor -> (quantized tensor, scale name, zero point name, scale)

    def tensor_range(name):
        r = ranges["tensors"][name]
        return (r["min"], r["max"]) if stat == "max" else (r["p0001"], r["p9999"])

    quantized_convs = [n for n in conv_nodes if n.name not in skipped]
    conv_outputs = {n.output[0] for n in quantized_convs}

    def quantize_activation(name):
        """One QuantizeLinear per activation tensor (a quantized Conv writes <name>_float and Q reads that)."""
        if name not in q_of:
            scale, zp = activation_params(*tensor_range(name))
            s_name, z_name, q_name = f"{name}_scale", f"{name}_zero_point", f"{name}_quantized"
            new_inits.extend([numpy_helper.from_array(np.array(scale, np.float32), s_name), numpy_helper.from_array(np.array(zp, np.uint8), z_name)])
            source = f"{name}_float" if name in conv_outputs else name
            q_nodes.append(helper.make_node("QuantizeLinear", [source, s_name, z_name], [q_name], name=f"{name}_QuantizeLinear"))
            q_of[name] = (q_name, s_name, z_name, scale)
        return q_of[name]

    # tensors some float node (or the graph's output) reads: a quantized Conv's output keeps a float copy only for them
    graph_outputs = {o.name for o in graph.output}
    float_readers = {i for n in graph.node if not (n.op_type == "Conv" and n.name not in skipped) for i in n.input} | graph_outputs

    q_nodes = []
    out_nodes = []
    for node in list(graph.node):
        if node.op_type != "Conv" or node.name in skipped:
            out_nodes.append(node)
            continue
        x, w_name = node.input[0], node.input[1]
        if w_name not in weights:
            raise SystemExit(f"{node.name}: weight {w_name} is not an initializer")
        # 1. input: Q (shared per tensor) -> a DQ of this Conv's own
        q_name, s_name, z_name, s_x = quantize_activation(x)
        dq_x = f"{node.name}_input_dequantized"
        pre = [helper.make_node("DequantizeLinear", [q_name, s_name, z_name], [dq_x], name=f"{node.name}_input_DequantizeLinear")]
        # 2. weights: int8 symmetric per output channel, s_w[c] = max|w[c]| / 127
        w = numpy_helper.to_array(weights[w_name]).astype(np.float32)
        s_w = (np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0).astype(np.float32)
        s_w[s_w == 0] = 1.0
        w_q = np.clip(np.round(w / s_w.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
        names = {k: f"{node.name}_weight_{k}" for k in ("quantized", "scale", "zero_point", "dequantized")}
        new_inits.extend([numpy_helper.from_array(w_q, names["quantized"]), numpy_helper.from_array(s_w, names["scale"]),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int8), names["zero_point"])])
        pre.append(helper.make_node("DequantizeLinear", [names["quantized"], names["scale"], names["zero_point"]], [names["dequantized"]], name=f"{node.name}_weight_DequantizeLinear", axis=0))
        conv_inputs = [dq_x, names["dequantized"]]
        # 3. bias: int32 at scale s_x * s_w[c], zero point 0 (what QLinearConv adds to its int32 accumulator)
        if len(node.input) > 2 and node.input[2]:
            b = numpy_helper.to_array(weights[node.input[2]]).astype(np.float64)
            s_b = (np.float64(s_x) * s_w.astype(np.float64)).astype(np.float32)
            b_q = np.round(b / s_b.astype(np.float64)).astype(np.int32)
            bn = {k: f"{node.name}_bias_{k}" for k in ("quantized", "scale", "zero_point", "dequantized")}
            new_inits.extend([numpy_helper.from_array(b_q, bn["quantized"]), numpy_helper.from_array(s_b, bn["scale"]),
                              numpy_helper.from_array(np.zeros(w.shape[0], np.int32), bn["zero_point"])])
            pre.append(helper.make_node("DequantizeLinear", [bn["quantized"], bn["scale"], bn["zero_point"]], [bn["dequantized"]], name=f"{node.name}_bias_DequantizeLinear", axis=0))
            conv_inputs.append(bn["dequantized"])
        # 4. output: Conv -> Q, and a DQ under the original name for the float nodes that read it
        y = node.output[0]
        conv = helper.make_node("Conv", conv_inputs, [f"{y}_float"], name=node.name)
        conv.attribute.extend(node.attribute)
        yq, ys, yz, _ = quantize_activation(y)
        post = [helper.make_node("DequantizeLinear", [yq, ys, yz], [y], name=f"{y}_DequantizeLinear")] if y in float_readers else []
        out_nodes.extend(pre + [conv] + post)
        quantized.append(node.name)
    # the activation Q nodes go right after their tensor's producer: keep the graph topologically sorted
    produced_by = {o: i for i, n in enumerate(out_nodes) for o in n.output}
    order = []
    for q in q_nodes:
        tensor = q.input[0]
        order.append((produced_by.get(tensor, -1), q))
    inserts = collections.defaultdict(list)
    for position, q in order:
        inserts[position].append(q)
    nodes = list(inserts[-1])
    for i, n in enumerate(out_nodes):
        nodes.append(n)
        nodes.extend(inserts[i])
    used = {i for n in nodes for i in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + [t for t in new_inits if t.name in used])
    model.producer_name = "rareforge training/quantize/quantize.py"
    del model.metadata_props[:]
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(f"{out}: {len(quantized)} of {len(conv_nodes)} Conv quantized ({stat}), float: {sorted(s for s in skipped if s)}; {os.path.getsize(out)} bytes")


def package(base, int8_path, ranges_path, out_dir, stat, keep_float, results_path, fast=None, fast_evidence=None, throughput_results=None):
    _, manifest = load_denoiser(base)
    ranges = json.load(open(ranges_path))
    base_sha = manifest["files"][manifest["denoiser"]["file"]]
    if ranges["denoiserSha256"] != base_sha:
        raise SystemExit(f"{ranges_path} was calibrated on denoiser {ranges['denoiserSha256'][:12]}, {base} ships {base_sha[:12]}: recalibrate")
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "denoiser.onnx")
    if os.path.abspath(int8_path) != os.path.abspath(target):
        open(target, "wb").write(open(int8_path, "rb").read())
    c = ranges["calibration"]
    float_text = ", ".join(sorted(keep_float)) or "none"
    derived = dict(manifest)
    derived["name"] = f"{base}-int8"
    derived["version"] = f"{manifest['version']}-int8.1"
    derived["description"] = (f"{manifest['name']} {manifest['version']} with its denoiser quantized to int8 (static, QDQ: Conv weights int8 "
                              f"per output channel, activations uint8 per tensor; float: {float_text} convolution(s), normalisation, attention, embeddings). "
                              + manifest["description"])
    derived["files"] = carry_condition_files(manifest, os.path.join(ROOT, "models", base), out_dir, {"denoiser.onnx": sha256(target)})
    derived["denoiser"] = dict(manifest["denoiser"], file="denoiser.onnx")
    derived["derivedFrom"] = {
        "name": manifest["name"],
        "version": manifest["version"],
        "denoiserSha256": base_sha,
        "method": "qdq-int8-static",
        "calibration": (f"activation ranges ({'99.99 % quantiles' if stat == 'p9999' else 'min/max'}) of every Conv input and output over "
                        f"{c['samples']} DDIM-{c['steps']} trajectories with guidance {c['guidance']} "
                        f"({'the conditional rows alone: guidance distilled into the denoiser' if 'distilledGuidance' in manifest['denoiser'] else 'both rows'}), "
                        f"{c['cells']} condition cells x {c['perCell']}, "
                        f"seed {c['seed']}, {c['denoiserCalls']} denoiser calls"),
        "ranges": os.path.relpath(os.path.abspath(ranges_path), ROOT),
        "command": (f"/usr/bin/python3 training/quantize/quantize.py build {base} {os.path.relpath(os.path.abspath(ranges_path), ROOT)} <int8.onnx> "
                    f"--stat {stat}" + (f" --float {','.join(sorted(keep_float))}" if keep_float else "")),
    }
    derived["provenance"] = dict(manifest.get("provenance", {}), quantization="training/quantize (training/README.md, \"int8\")")
    # the base's fast settings were measured on the base: few steps cost an int8 denoiser more (bench/throughput),
    # so the derived package carries only fast settings measured on itself
    derived.pop("fast", None)
    if fast:
        sampler, steps = fast.split(":")
        if not fast_evidence:
            raise SystemExit("--fast needs --fast-evidence (where the setting was measured)")
        derived["fast"] = {"sampler": sampler, "steps": int(steps), "guidance": manifest["defaults"]["guidance"], "evidence": fast_evidence}
    derived["evaluation"] = {}
    if throughput_results:
        derived["evaluation"] = throughput_evaluation(throughput_results, derived["name"], derived["files"]["denoiser.onnx"])
    if results_path:
        derived["evaluation"] = int8_evaluation(results_path, base, derived["files"]["denoiser.onnx"])
    write_manifest(out_dir, derived)   # key order as the base's, derivedFrom after the identity
    print(f"{out_dir}: {derived['name']} {derived['version']}, denoiser {derived['files']['denoiser.onnx'][:12]}")


def ops(path):
    counts = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    print(json.dumps(dict(sorted(counts.items()))))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("expose")
    e.add_argument("package")
    e.add_argument("out")
    b = sub.add_parser("build")
    b.add_argument("package")
    b.add_argument("ranges")
    b.add_argument("out")
    b.add_argument("--stat", choices=["max", "p9999"], default="max")
    b.add_argument("--float", default="", help="comma-separated: first, last, attention (the attention block's qkv and out convolutions), or Conv node names (/up_blocks.2/conv2/Conv)")
    p = sub.add_parser("package")
    p.add_argument("package")
    p.add_argument("int8")
    p.add_argument("ranges")
    p.add_argument("out")
    p.add_argument("--stat", choices=["max", "p9999"], required=True)
    p.add_argument("--float", default="")
    p.add_argument("--results", default=None)
    p.add_argument("--fast", default=None, help="SAMPLER:STEPS measured on this int8 package within 2 points of the base's DDIM-25 (bench/throughput)")
    p.add_argument("--fast-evidence", default=None)
    p.add_argument("--throughput-results", default=None, help="bench/throughput results with this package's figures (its evaluation)")
    o = sub.add_parser("ops")
    o.add_argument("model")
    args = parser.parse_args(argv)
    if args.command == "expose":
        expose(args.package, args.out)
    elif args.command in ("build", "package"):
        keep = {k for k in args.float.split(",") if k}
        unknown = {k for k in keep - FLOAT_CHOICES if not k.startswith("/")}
        if unknown:
            raise SystemExit(f"--float takes {', '.join(sorted(FLOAT_CHOICES))}; got {sorted(unknown)}")
        if args.command == "build":
            build(args.package, args.ranges, args.out, args.stat, keep)
        else:
            package(args.package, args.int8, args.ranges, args.out, args.stat, keep, args.results, args.fast, args.fast_evidence, args.throughput_results)
    else:
        ops(args.model)


if __name__ == "__main__":
    main(sys.argv[1:])
