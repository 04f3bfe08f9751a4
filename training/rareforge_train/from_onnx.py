"""Recovers a torch checkpoint from a shipped ONNX file, so training resumes from shipped weights.

The export folds constants: BatchNorm is fused into the preceding convolution (onnx::Conv_*),
GroupNorm's affine parameters become reshaped onnx::Mul_* / onnx::Add_* initializers. Names alone
therefore do not say which tensor holds which parameter. Instead a probe copy of the same network,
every parameter set to distinct random values and every BatchNorm set to the identity
(gamma 1, mean 0, var 1 - eps, so a fused convolution keeps the probe's weight and the fused bias is
beta), is exported exactly as package.py exports; each probe initializer is then matched by value
to the parameter it came from, and the shipped initializer with the same name (same code, same
graph, same numbering) is copied into that parameter. Initializers that match no parameter are
graph constants and must be equal in both files.

The recovered network computes the shipped function exactly in eval mode; package.py's fixtures
check that. BatchNorm statistics are not in the file (they were folded), so `calibrate_batchnorm`
gives each BatchNorm the per-channel mean and variance of its input on real images while keeping
the eval-mode function unchanged; train-mode batch statistics then start close to the folded ones.
"""
import copy
import io
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper


def _initializers(model_proto):
    return {i.name: numpy_helper.to_array(i) for i in model_proto.graph.initializer}


def _export_bytes(model, example, input_names, output_names, dynamic_axes, opset):
    buffer = io.BytesIO()
    torch.onnx.export(model, example, buffer, opset_version=opset, input_names=input_names,
                      output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def _matches(a, b):
    return a.size == b.size and np.allclose(a.reshape(-1), b.reshape(-1), rtol=1e-5, atol=1e-7)


def recover(model, onnx_path, example, input_names, output_names, dynamic_axes, opset=17):
    """Loads the shipped weights of onnx_path into model (same architecture); returns model in eval mode."""
    model = model.eval()
    probe = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(12345)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
        for m in probe.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
    probe_inits = _initializers(_export_bytes(probe, example, input_names, output_names, dynamic_axes, opset))
    shipped_inits = _initializers(onnx.load(onnx_path))
    if set(probe_inits) != set(shipped_inits):
        raise RuntimeError(f"{onnx_path}: initializer names differ from this code's export "
                           f"(only shipped: {sorted(set(shipped_inits) - set(probe_inits))[:5]}, "
                           f"only here: {sorted(set(probe_inits) - set(shipped_inits))[:5]})")
    probe_params = {n: p.detach().numpy() for n, p in probe.named_parameters()}
    target = dict(model.named_parameters())
    batchnorm_weights = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assigned = set()
    with torch.no_grad():
        for name, value in probe_inits.items():
            found = [pn for pn, pv in probe_params.items() if _matches(pv, value)]
            shipped = shipped_inits[name]
            if not found:
                if not (shipped.shape == value.shape and np.array_equal(shipped, value)):
                    raise RuntimeError(f"{onnx_path}: initializer {name} matches no parameter and is not a shared constant")
                continue
            if len(found) > 1:
                raise RuntimeError(f"{onnx_path}: initializer {name} matches several parameters {found}")
            param = target[found[0]]
            param.copy_(torch.from_numpy(shipped.copy()).reshape(param.shape))
            assigned.add(found[0])
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):   # folded into the convolution: identity here
                m.weight.fill_(1.0)
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
    missing = set(target) - assigned - batchnorm_weights
    if missing:
        raise RuntimeError(f"{onnx_path}: no initializer for parameters {sorted(missing)}")
    return model


@torch.no_grad()
def calibrate_batchnorm(model, images):
    """Sets each BatchNorm's statistics to its input's per-channel mean/variance on images, keeping
    the eval-mode function: gamma = sqrt(var + eps), beta = beta + mean."""
    model.eval()
    stats, hooks = {}, []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_hook(
                lambda mod, inputs, _out: stats.__setitem__(mod, (inputs[0].mean((0, 2, 3)), inputs[0].var((0, 2, 3), unbiased=False)))))
    model(images)
    for h in hooks:
        h.remove()
    for m, (mean, var) in stats.items():
        # eval: gamma (x - mean) / sqrt(var + eps) + beta' = x - mean + beta' = x + beta (the folded function)
        m.bias.add_(mean)
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.weight.copy_(torch.sqrt(var + m.eps))
    return model


def _read_f32(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape))


def golden_trajectory(name, fixtures_dir):
    """A diffusion package's golden DDIM trajectory: its settings (golden.json's "ddim"), noise and condition."""
    d = os.path.join(fixtures_dir, name)
    ddim = json.load(open(os.path.join(d, "golden.json")))["ddim"]
    return (ddim, _read_f32(os.path.join(d, ddim["noise"]), ddim["shape"]),
            _read_f32(os.path.join(d, ddim["condition"]), [ddim["shape"][0], -1]))


@torch.no_grad()
def fixture_error(name, kind, model, fixtures_dir):
    """Largest |torch - golden| over the package's golden fixture (denoiser calls and the guided
    DDIM trajectory for a diffusion model; the single input/output for a detector or critic)."""
    from . import diffusion
    d = os.path.join(fixtures_dir, name)
    golden = json.load(open(os.path.join(d, "golden.json")))
    errors = []
    if kind == "diffusion":
        for call in golden["denoiserCalls"]:
            sample = _read_f32(os.path.join(d, call["sample"]), call["sampleShape"])
            condition = _read_f32(os.path.join(d, call["condition"]), call["conditionShape"])
            expected = _read_f32(os.path.join(d, call["output"]), call["sampleShape"])
            errors.append((model(sample, torch.tensor(call["timestep"], dtype=torch.float32), condition) - expected).abs().max())
        ddim, noise, condition = golden_trajectory(name, fixtures_dir)
        final = diffusion.ddim_sample(model, noise, condition, steps=ddim["steps"], guidance=ddim["guidance"])
        errors.append((final - _read_f32(os.path.join(d, ddim["final"]), ddim["shape"])).abs().max())
    else:
        x = _read_f32(os.path.join(d, golden["input"]["file"]), golden["input"]["shape"])
        expected = _read_f32(os.path.join(d, golden["output"]["file"]), golden["output"]["shape"])
        errors.append((model(x) - expected).abs().max())
    return float(max(errors))


def checkpoint_from_package(name, checkpoint_dir, log=print, tolerance=1e-4):
    """Writes checkpoint_dir/last.pt from the shipped models/<name> package, verified against its
    golden fixture; step count and wall time come from the manifest's provenance."""
    from . import diffusion, package, perception
    from .domains import PACKAGES, TRAIN_SEED
    kind, domain = PACKAGES[name]
    last = os.path.join(checkpoint_dir, "last.pt")
    if os.path.exists(last):
        raise RuntimeError(f"{last} exists: refusing to overwrite a training checkpoint with the shipped weights")
    manifest_file = {"diffusion": "model.json", "detector": "detector.json", "critic": "critic.json"}[kind]
    package_dir = os.path.join(package.MODELS_DIR, name)
    manifest = json.load(open(os.path.join(package_dir, manifest_file)))
    onnx_file = manifest["denoiser"]["file"] if kind == "diffusion" else manifest["file"]
    onnx_path = os.path.join(package_dir, onnx_file)
    if package.sha256(onnx_path) != manifest["files"][onnx_file]:
        raise RuntimeError(f"{onnx_path} does not match the sha256 in its manifest")
    if kind == "diffusion":
        model = diffusion.build_denoiser(domain)
    else:   # a critic's architecture shows in its weights' names (SpatialCritic has a dense head)
        names = {i.name for i in onnx.load(onnx_path).graph.initializer}
        model = perception.build(kind, domain, "spatial" if kind == "critic" and "dense.weight" in names else "flat")
    example, input_names, output_names, axes = package.export_signature(kind, domain)
    model = recover(model, onnx_path, example, input_names, output_names, axes, package.OPSET)
    if kind != "diffusion":
        images, _ = domain.dataset(20000, TRAIN_SEED)
        x = torch.from_numpy(images[:512])
        x = perception.detector_input(images[:512], domain) if kind == "detector" else x.float() / 127.5 - 1.0
        calibrate_batchnorm(model, x)
    error = fixture_error(name, kind, model, package.FIXTURES_DIR)
    log(f"recovered {name} from {os.path.relpath(onnx_path, package.REPO)}: max |torch - golden fixture| = {error:.2e}")
    if not error <= tolerance:
        raise RuntimeError(f"recovered {name} differs from its golden fixture by {error:.2e} (> {tolerance})")
    step, elapsed = manifest["provenance"]["trainingSteps"], manifest["provenance"]["wallTimeSeconds"]
    os.makedirs(checkpoint_dir, exist_ok=True)
    state = {"model": model.state_dict(), "step": step, "elapsed": elapsed, "opt": None, "recoveredFrom": onnx_file,
             **({"arch": model.arch} if hasattr(model, "arch") else {})}
    if kind == "diffusion":
        state.update({"ema": model.state_dict(), "prediction": diffusion.PREDICTION})   # shipped weights are the EMA
    torch.save(state, last)
    return model
