"""Exports a trained checkpoint as a package under models/<name>/ and writes its golden fixtures.

Manifests follow docs/model-package.md (model.json) and models/README.md (detector.json,
critic.json). Fixtures are raw little-endian float32 files plus golden.json, produced by
the PyTorch reference (not by onnxruntime), so the TypeScript runtime is checked against
the reference implementation.
"""
import hashlib
import json
import os
import platform
import shutil

import numpy as np
import torch

from . import diffusion, perception
from .domains import EVAL_SEED, PACKAGES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS_DIR = os.path.join(REPO, "models")
FIXTURES_DIR = os.path.join(REPO, "test", "fixtures")
OPSET = 17
# A package's name and version stand for fixed files (the service refuses changed files under a recorded
# version): bump a package's version whenever its weights change.
VERSIONS = {"road-hazards": "1.2.0", "brain-mri": "1.2.0", "road-detector": "1.0.0", "brain-detector": "1.0.0",
            "road-critic": "1.2.0", "brain-critic": "1.4.0"}
LICENSE = "Apache-2.0"
DIFFUSION_NAME = {"road": "road-hazards", "brain": "brain-mri"}
DEFAULT_GUIDANCE = {"road-hazards": 3.0, "brain-mri": 3.0}   # overwritten by evaluate.py's sweep
GUIDANCE_PATH = os.path.join(REPO, "training", "reports", "guidance.json")
# Per diffusion package, the report whose `calibration` (field -> map, and the denoiser sha256 it was measured on)
# the manifest's scalar fields carry (docs/model-package.md, "Calibrated scalars").
CALIBRATION_REPORTS = {"brain-mri": os.path.join(REPO, "training", "reports", "brain-mri-contrast-calibration.json")}

DESCRIPTIONS = {
    "road-hazards": "Conditional pixel-space diffusion model for 64x64 RGB road scenes with one hazard "
                    "(class, weather, time of day, bounding box).",
    "brain-mri": "Conditional pixel-space diffusion model for 64x64 T2-weighted axial brain MRI slices "
                 "with a pathology (type, centre, radius, contrast).",
    "road-detector": "Small anchor-free road-hazard detector (YOLOv8 output layout), the detector under test.",
    "brain-detector": "Small anchor-free brain-pathology detector (YOLOv8 output layout), the detector under test.",
    "road-critic": "Fidelity critic: predicts the road-hazards condition (hazard, weather, time of day, box) from an image.",
    "brain-critic": "Fidelity critic: predicts the brain-mri condition (pathology, centre, radius, contrast) from an image.",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hardware():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU only: {cpu}, {torch.get_num_threads()} torch thread(s) on a shared 2-core VM, {platform.machine()}"


# A version that continued a shipped one's weights: what it started from and the run's own command (the steps and
# wall time in the provenance count the whole history).
FINE_TUNED = {
    ("brain-mri", "1.2.0"): {
        "from": {"version": "1.1.0", "denoiserSha256": "52eea7fcaa3b759435722fb5b59c483a68c973035651c18a79d834197b5aaa3e",
                 "trainingSteps": 6851},
        "command": "python3 training/train.py brain-mri --init-from-onnx --minutes 42 --threads 2 --lr 2e-4",
        "sampling": "diffusion.sampling_weights: lesions 1.8, haemorrhage 1.5, tumour 0.8, none 0.6; "
                    "lesionContrast < 0.5 x1.6, radius < 4 px x1.4 (training/README.md section 15)",
    },
    ("brain-critic", "1.3.0"): {
        "from": {"version": "1.2.0", "criticSha256": "e699a4e4c9ed9a7fd645a8963e082a73d3b9f022b84faaa2e2d2cc017b208a69",
                 "trainingSteps": 2550},
        "command": "python3 training/train.py brain-critic --new-run --minutes 55 --lr 5e-4 --sampling faint-lesions "
                   "(resumed from the 1.2.0 run's last point, step 2657)",
        "sampling": "perception.critic_sampling_weights table faint-lesions: lesions fainter than 0.4 or under 4.5 px "
                    "3x, both 5x, on top of small objects 3x (training/README.md section 21)",
    },
    ("brain-critic", "1.4.0"): {
        "from": {"version": "1.3.0", "criticSha256": "32099b1ab8a20ad10555e33c9ee5ad809d51abb08c5321e1301224f5ff95665a",
                 "trainingSteps": 4950},
        "command": "python3 training/train.py brain-critic --new-run --minutes 18 --lr 3e-4 --sampling faint-lesions "
                   "--threads 2 (resumed from the 1.3.0 run's last point, step 5460)",
        "sampling": "perception.critic_sampling_weights table faint-lesions, as 1.3.0 (training/README.md section 21)",
    },
}


def provenance(domain, name, step, elapsed):
    generator = f"training/procedural/{domain.name}.py"
    out = {"generator": generator, "generatorVersion": domain.generator.GENERATOR_VERSION,
           "trainingSteps": int(step), "hardware": hardware(), "wallTimeSeconds": round(float(elapsed), 1),
           "torchVersion": torch.__version__, "command": f"python3 training/train.py {name}"}
    fine_tuned = FINE_TUNED.get((name, VERSIONS[name]))
    if fine_tuned:
        out["fineTunedFrom"] = fine_tuned
    return out


def write_f32(path, tensor):
    np.ascontiguousarray(tensor.detach().numpy() if torch.is_tensor(tensor) else tensor, dtype="<f4").tofile(path)


MANIFEST_FILES = ("model.json", "detector.json", "critic.json")


def read_manifest(out_dir):
    """The package's current manifest (read before a rebuild clears the directory), or None."""
    for file in MANIFEST_FILES:
        path = os.path.join(out_dir, file)
        if os.path.exists(path):
            return json.load(open(path))
    return None


def previous_evaluation(previous, files):
    """Keeps a manifest's evaluation only while the weights it was measured on are unchanged."""
    if previous is not None and previous.get("files") == files:
        return previous.get("evaluation") or {}
    return {}


def calibrated_fields(name, fields, files, log=print):
    """The manifest's condition fields with each measured calibration map attached: the maps come from the
    package's calibration report, and only while the weights they were measured on (files) are unchanged; a
    rebuild with new weights drops them (their report says how to measure again)."""
    path = CALIBRATION_REPORTS.get(name)
    if not path or not os.path.exists(path):
        return fields
    report = json.load(open(path))
    measured = report.get("calibration") or {}
    # the weights the maps were measured on (the denoiser): files may list more (a feedback meter)
    if not measured.get("files") or any(files.get(k) != v for k, v in measured["files"].items()):
        log(f"{os.path.relpath(path, REPO)} was measured on other weights: {name}'s scalars ship uncalibrated")
        return fields
    maps = measured.get("fields") or {}
    return [{**f, "calibration": maps[f["name"]]} if f["name"] in maps and f["kind"] == "scalar" else f for f in fields]


FEEDBACK_REPORTS = {"brain-mri": os.path.join(REPO, "training", "reports", "brain-mri-contrast-feedback.json")}


def with_feedback(name, fields, files, out_dir, log=print):
    """fields with each scalar's feedback (training/contrast_calibration.py feedback's report) and files with its meter,
    only while the denoiser is the one the settings were chosen on and the meter file is in out_dir (it is made on its
    own, contrast_meter.py export: a rebuild keeps it); a rebuild with new weights ships without feedback."""
    path = FEEDBACK_REPORTS.get(name)
    if not path or not os.path.exists(path):
        return fields
    report = json.load(open(path))
    meter = os.path.join(out_dir, report["feedback"][next(iter(report["feedback"]))]["meter"])
    if report.get("denoiserSha256") != files.get("denoiser.onnx") or not os.path.exists(meter) or sha256(meter) != report.get("meterSha256"):
        log(f"{os.path.relpath(path, REPO)} was chosen on other weights or another meter: {name} ships without feedback")
        return fields
    files[os.path.basename(meter)] = report["meterSha256"]
    return [{**f, "feedback": report["feedback"][f["name"]]} if f["name"] in report["feedback"] else f for f in fields]


def gate_report_path(name):
    return os.path.join(REPO, "training", "reports", f"{name}-gate.json")


def calibrated_gate(name, files, log=print):
    """critic.json's realism gate (training/gate_calibration.py's report), only while the critic's files are the
    ones it was calibrated on; a rebuild with new weights ships without one (the gate then falls back to
    judgeRealism's fixed thresholds) until gate_calibration.py --apply runs again."""
    path = gate_report_path(name)
    if not os.path.exists(path):
        return None
    report = json.load(open(path))
    if report.get("files") != files:
        log(f"{os.path.relpath(path, REPO)} was calibrated on other weights: {name} ships without a calibrated gate")
        return None
    held_out = report["heldOut"]["exact"]
    return {**report["gate"], "calibration": {
        "report": os.path.relpath(path, REPO),
        "on": "exact renders of every condition cell at the scenario library's ranges",
        "perCell": report["perCell"], "seeds": report["seeds"],
        "heldOutRefused": held_out["refused"], "heldOutWorstCell": max(held_out["byCell"].values()),
        "heldOutPower": {k: v["refused"] for k, v in report["heldOut"]["power"].items()}}}


def default_guidance(name):
    if os.path.exists(GUIDANCE_PATH):
        return json.load(open(GUIDANCE_PATH)).get(name, DEFAULT_GUIDANCE[name])
    return DEFAULT_GUIDANCE[name]


def build(name, checkpoint_dir, threads=1, log=print):
    kind, domain = PACKAGES[name]
    out_dir = os.path.join(MODELS_DIR, name)
    fixture_dir = os.path.join(FIXTURES_DIR, name)
    previous = read_manifest(out_dir)
    for d in (out_dir, fixture_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    if kind == "diffusion":
        _build_diffusion(name, domain, checkpoint_dir, out_dir, fixture_dir, previous, log)
    else:
        _build_perception(name, kind, domain, checkpoint_dir, out_dir, fixture_dir, previous, log)
    log(f"wrote {out_dir} and {fixture_dir}")


def export_signature(kind, domain):
    """Input and output names and dynamic axes of a package's ONNX file, and an example input shape."""
    if kind == "diffusion":
        example = (torch.zeros(2, domain.channels, 64, 64), torch.tensor([999.0, 10.0]), torch.zeros(2, domain.layout.width))
        return example, ["sample", "timestep", "condition"], ["model_output"], {
            "sample": {0: "batch"}, "timestep": {0: "batch"}, "condition": {0: "batch"}, "model_output": {0: "batch"}}
    channels = 3 if kind == "detector" else domain.channels
    input_name, output_name = ("images", "output0") if kind == "detector" else ("image", "condition")
    return ((torch.zeros(1, channels, 64, 64),), [input_name], [output_name],
            {input_name: {0: "batch"}, output_name: {0: "batch"}})


def _export(model, args, path, input_names, output_names, dynamic_axes):
    torch.onnx.export(model, args, path, opset_version=OPSET, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, do_constant_folding=True)
    size = os.path.getsize(path)
    if size > 16 * 1024 * 1024:
        raise RuntimeError(f"{path} is {size} bytes, over the 16 MiB package limit")


def _build_diffusion(name, domain, checkpoint_dir, out_dir, fixture_dir, previous, log):
    model, step, elapsed = diffusion.load_trained(domain, checkpoint_dir)
    c = domain.channels
    layout = domain.layout
    onnx_path = os.path.join(out_dir, "denoiser.onnx")
    example, input_names, output_names, axes = export_signature("diffusion", domain)
    _export(model, example, onnx_path, input_names, output_names, axes)
    files = {"denoiser.onnx": sha256(onnx_path)}
    guidance = default_guidance(name)
    image = {"width": 64, "height": 64, "channels": c, "valueRange": [-1, 1]}
    if domain.name == "road":
        image["format"] = "png-rgb8"
        domain_name = "automotive"
    else:
        image.update({"format": "dicom-gray16", "modality": "MR", "storedRange": [0, 4095]})
        domain_name = "medical"
    labels = [domain.label()]   # with the geometry the generator draws each class at (its "plausible" ranges)
    manifest_path = os.path.join(out_dir, "model.json")
    manifest = {
        "schema": "rareforge.model/1", "name": name, "version": VERSIONS[name], "domain": domain_name, "license": LICENSE,
        "description": DESCRIPTIONS[name], "files": files, "image": image, "latent": None,
        "denoiser": {"file": "denoiser.onnx",
                     "inputs": {"sample": "sample", "timestep": "timestep", "condition": "condition"},
                     "output": "model_output", "timestepDtype": "float32", "prediction": diffusion.PREDICTION,
                     "schedule": dict(diffusion.SCHEDULE)},
        "condition": {"width": layout.width,
                      "fields": with_feedback(name, calibrated_fields(name, layout.manifest(), files, log), files, out_dir, log),
                      "unconditional": [0.0] * layout.width},
        "labels": labels,
        "defaults": {"sampler": "ddim", "steps": 25, "guidance": guidance},
        "provenance": provenance(domain, name, step, elapsed),
        "evaluation": {},
    }
    manifest["evaluation"] = previous_evaluation(previous, files)
    json.dump(manifest, open(manifest_path, "w"), indent=2)

    write_diffusion_fixtures(name, domain, model, fixture_dir, guidance)


def write_diffusion_fixtures(name, domain, model, fixture_dir, guidance, distilled=False):
    """Golden fixtures: denoiser calls at a few timesteps and one guided 10-step DDIM trajectory, computed by the
    PyTorch reference. distilled: the model has guidance distilled into it (denoiser.distilledGuidance), so the
    trajectory at `guidance` is its conditional pass alone, as the runtime samples it."""
    c = domain.channels
    layout = domain.layout
    rng = np.random.default_rng(EVAL_SEED)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    conditions = [layout.encode(domain.draw(rng, **{domain.class_field: v}))
                  for v in layout.field(domain.class_field)["values"][1:]]
    calls = []
    timesteps_per_call = [[999.0, 500.0], [250.0, 20.5]] if c == 3 else [[999.0, 500.0], [250.0, 20.5], [700.0, 1.0]]
    for i, ts in enumerate(timesteps_per_call):
        sample = torch.randn((len(ts), c, 64, 64), generator=gen)
        cond = torch.from_numpy(np.stack([conditions[(i + j) % len(conditions)] for j in range(len(ts))]))
        with torch.no_grad():
            output = model(sample, torch.tensor(ts, dtype=torch.float32), cond)
        write_f32(os.path.join(fixture_dir, f"call{i}_sample.f32"), sample)
        write_f32(os.path.join(fixture_dir, f"call{i}_condition.f32"), cond)
        write_f32(os.path.join(fixture_dir, f"call{i}_output.f32"), output)
        calls.append({"sample": f"call{i}_sample.f32", "sampleShape": list(sample.shape), "timestep": ts,
                      "condition": f"call{i}_condition.f32", "conditionShape": list(cond.shape),
                      "output": f"call{i}_output.f32"})
    noise = torch.randn((1, c, 64, 64), generator=gen)
    cond = torch.from_numpy(conditions[0][None])
    scheduler = diffusion.DDIMScheduler()
    timesteps = [int(t) for t in scheduler.set_timesteps(10)]
    final = diffusion.ddim_sample(model, noise, cond, steps=10, guidance=1.0 if distilled else guidance)
    write_f32(os.path.join(fixture_dir, "ddim_noise.f32"), noise)
    write_f32(os.path.join(fixture_dir, "ddim_condition.f32"), cond)
    write_f32(os.path.join(fixture_dir, "ddim_final.f32"), final)
    golden = {"model": name, "denoiserCalls": calls,
              "ddim": {"steps": 10, "eta": 0, "guidance": guidance, "timesteps": timesteps,
                       "noise": "ddim_noise.f32", "shape": list(noise.shape),
                       "condition": "ddim_condition.f32", "final": "ddim_final.f32"}}
    json.dump(golden, open(os.path.join(fixture_dir, "golden.json"), "w"), indent=2)


def _build_perception(name, kind, domain, checkpoint_dir, out_dir, fixture_dir, previous, log):
    model, step, elapsed = perception.load_trained(kind, domain, checkpoint_dir)
    layout = domain.layout
    onnx_file = f"{kind}.onnx"
    onnx_path = os.path.join(out_dir, onnx_file)
    diffusion_name = DIFFUSION_NAME[domain.name]
    rng = np.random.default_rng(EVAL_SEED)
    params = domain.draw(rng, **{domain.class_field: domain.classes[0]})
    image_uint8 = np.round(domain.render(params, rng) * 255).astype(np.uint8)[None]
    common = {"version": VERSIONS[name], "domain": "automotive" if domain.name == "road" else "medical", "license": LICENSE,
              "description": DESCRIPTIONS[name]}
    if kind == "detector":
        x = perception.detector_input(image_uint8, domain).contiguous()
        _, (input_name,), (output_name,), axes = export_signature(kind, domain)
        _export(model, (x,), onnx_path, [input_name], [output_name], axes)
        with torch.no_grad():
            y = model(x)
        manifest = {
            "schema": "rareforge.detector/1", "name": name, **common, "files": {onnx_file: sha256(onnx_path)},
            "file": onnx_file,
            "input": {"name": input_name, "width": 64, "height": 64, "channels": 3, "layout": "NCHW",
                      "valueRange": [0, 1], "letterbox": True, "padValue": 114 / 255,
                      **({"grayscale": "replicate to RGB"} if domain.channels == 1 else {})},
            "output": {"name": output_name, "layout": "yolov8", "shape": [1, 4 + len(domain.classes), y.shape[2]],
                       "box": "cxcywh", "boxUnits": "input pixels", "scores": "sigmoid", "nms": False},
            "classes": domain.classes,
            "classField": domain.class_field,
            "classMap": {v: v for v in domain.classes},
            "model": diffusion_name,
            "defaults": {"scoreThreshold": 0.25, "iouThreshold": 0.45, "matchIoU": 0.5},
            "provenance": provenance(domain, name, step, elapsed),
            "evaluation": {},
        }
        manifest_path = os.path.join(out_dir, "detector.json")
    else:
        x = (torch.from_numpy(image_uint8).float() / 127.5 - 1.0).contiguous()
        _, (input_name,), (output_name,), axes = export_signature(kind, domain)
        _export(model, (x,), onnx_path, [input_name], [output_name], axes)
        with torch.no_grad():
            y = model(x)
        box_fields = ({"kind": "box", "cx": "hazardCx", "cy": "hazardCy", "w": "hazardW", "h": "hazardH"}
                      if domain.name == "road" else
                      {"kind": "circle", "cx": "lesionX", "cy": "lesionY", "radius": "lesionRadius"})
        manifest = {
            "schema": "rareforge.critic/1", "name": name, **common, "files": {onnx_file: sha256(onnx_path)},
            "file": onnx_file,
            "model": diffusion_name,
            "input": {"name": input_name, "width": 64, "height": 64, "channels": domain.channels, "layout": "NCHW",
                      "valueRange": [-1, 1]},
            "output": {"name": output_name, "width": layout.width, "layout": "condition"},
            "fields": [{**f, "decode": "argmax over logits" if f["kind"] == "categorical"
                        else "range[0] + value * (range[1] - range[0])"} for f in layout.manifest()],
            "box": {**box_fields, "class": domain.class_field, "absentWhen": ["none"]},
            "provenance": provenance(domain, name, step, elapsed),
            "evaluation": {},
        }
        manifest_path = os.path.join(out_dir, "critic.json")
    if kind == "critic" and previous is not None and previous.get("look") \
            and os.path.exists(os.path.join(out_dir, previous["look"]["file"])):
        # the look (training/look.py) is trained on its own: a rebuild of the critic keeps it
        look_file = previous["look"]["file"]
        manifest["files"][look_file] = sha256(os.path.join(out_dir, look_file))
        manifest["look"] = previous["look"]
    if kind == "critic":
        gate = calibrated_gate(name, manifest["files"], log=log)
        if gate is not None:
            manifest["gate"] = gate
    manifest["evaluation"] = previous_evaluation(previous, manifest["files"])
    json.dump(manifest, open(manifest_path, "w"), indent=2)
    write_f32(os.path.join(fixture_dir, "input.f32"), x)
    write_f32(os.path.join(fixture_dir, "output.f32"), y)
    json.dump({"model": name, "params": params,
               "input": {"name": input_name, "file": "input.f32", "shape": list(x.shape)},
               "output": {"name": output_name, "file": "output.f32", "shape": list(y.shape)}},
              open(os.path.join(fixture_dir, "golden.json"), "w"), indent=2)
