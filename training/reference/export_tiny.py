"""Export tiny randomly initialised model packages + golden fixtures for the runtime tests.

  /usr/bin/python3 training/reference/export_tiny.py
writes test/fixtures/tiny-model/ (RGB pixel-space, epsilon) and test/fixtures/tiny-model/latent/
(grayscale 16-bit through a latent decoder, v prediction), each a full package per docs/model-package.md
with golden.json and raw little-endian float32 files.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from pipeline import sample  # noqa: E402
from schedulers import DDIM, NoiseSchedule, create_scheduler  # noqa: E402
from tiny_unet import TinyDecoder, TinyUNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_f32(path: Path, t: torch.Tensor) -> None:
    path.write_bytes(t.detach().contiguous().numpy().astype("<f4").tobytes())


def export_denoiser(model, path: Path, shape, cond_width: int) -> None:
    b = 2
    torch.onnx.export(
        model, (torch.zeros(b, *shape), torch.zeros(b), torch.zeros(b, cond_width)), str(path),
        input_names=["sample", "timestep", "condition"], output_names=["model_output"],
        dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "condition": {0: "batch"}, "model_output": {0: "batch"}},
        opset_version=17,
    )


def one_hot_condition(layout: dict, params: dict) -> torch.Tensor:
    v = torch.zeros(layout["width"])
    for f in layout["fields"]:
        x = params[f["name"]]
        if f["kind"] == "categorical":
            v[f["offset"] + f["values"].index(x)] = 1.0
        else:
            lo, hi = f["range"]
            v[f["offset"]] = (x - lo) / (hi - lo)
    return v


def make_goldens(out: Path, name: str, model, manifest: dict, shape, params: dict, sched: NoiseSchedule) -> None:
    gen = torch.Generator().manual_seed(1234)
    layout = manifest["condition"]
    cw = layout["width"]
    calls = []
    for k, ts in enumerate([[999.0, 500.0], [10.0, 250.0, 731.0]]):
        b = len(ts)
        x = torch.randn(b, *shape, generator=gen)
        c = torch.rand(b, cw, generator=gen)
        with torch.no_grad():
            y = model(x, torch.tensor(ts), c)
        for suffix, t in (("sample", x), ("condition", c), ("output", y)):
            write_f32(out / f"call{k}_{suffix}.f32", t)
        calls.append({"sample": f"call{k}_sample.f32", "sampleShape": [b, *shape], "timestep": ts,
                      "condition": f"call{k}_condition.f32", "conditionShape": [b, cw], "output": f"call{k}_output.f32"})
    pred = manifest["denoiser"]["prediction"]
    noise = torch.randn(1, *shape, generator=gen)
    cond = one_hot_condition(layout, params).unsqueeze(0)
    uncond = torch.tensor(layout["unconditional"], dtype=torch.float32)
    write_f32(out / "ddim_noise.f32", noise)
    write_f32(out / "ddim_condition.f32", cond)
    ddim = DDIM(sched, pred, eta=0.0)
    final = sample(model, ddim, noise, cond, uncond, 3.0, 10)
    write_f32(out / "ddim_final.f32", final)
    # Extra deterministic trajectories (RareForge-specific, beyond the contract): 20 steps each.
    trajectories = []
    for sampler in ("ddim", "dpmpp-2m", "euler"):
        s = create_scheduler(sampler, sched, pred)
        fin = sample(model, s, noise, cond, uncond, 2.5, 20)
        fname = f"traj_{sampler}_final.f32"
        write_f32(out / fname, fin)
        trajectories.append({"sampler": sampler, "steps": 20, "guidance": 2.5, "final": fname})
    golden = {
        "model": name, "denoiserCalls": calls,
        "ddim": {"steps": 10, "eta": 0, "guidance": 3.0, "timesteps": [int(t) for t in ddim.timesteps],
                 "noise": "ddim_noise.f32", "shape": [1, *shape], "condition": "ddim_condition.f32",
                 "final": "ddim_final.f32"},
        "parameters": params,
        "trajectories": trajectories,
        "torchVersion": torch.__version__,
    }
    (out / "golden.json").write_text(json.dumps(golden, indent=2) + "\n")


def write_manifest(out: Path, manifest: dict) -> None:
    manifest["files"] = {f: sha256(out / f) for f in manifest["files"]}
    (out / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")


def provenance(cmd: str) -> dict:
    return {"generator": "training/reference/export_tiny.py", "generatorVersion": "1", "trainingSteps": 0,
            "hardware": "cpu", "wallTimeSeconds": 0, "torchVersion": torch.__version__, "command": cmd}


def rgb_package() -> None:
    out = ROOT / "test/fixtures/tiny-model"
    out.mkdir(parents=True, exist_ok=True)
    layout = TINY_RGB_LAYOUT
    model = build_tiny_rgb()
    export_denoiser(model, out / "denoiser.onnx", (3, 16, 16), layout["width"])
    sched = NoiseSchedule("linear", 1000, 0.0001, 0.02)
    manifest = {
        "schema": "rareforge.model/1", "name": "tiny-model", "version": "0.0.1", "domain": "automotive",
        "license": "Apache-2.0", "description": "Tiny randomly initialised UNet-like denoiser for runtime tests (not trained).",
        "files": ["denoiser.onnx"],
        "image": {"width": 16, "height": 16, "channels": 3, "valueRange": [-1, 1], "format": "png-rgb8"},
        "latent": None,
        "denoiser": {"file": "denoiser.onnx", "inputs": {"sample": "sample", "timestep": "timestep", "condition": "condition"},
                     "output": "model_output", "timestepDtype": "float32", "prediction": "epsilon",
                     "schedule": {"kind": "linear", "trainSteps": 1000, "betaStart": 0.0001, "betaEnd": 0.02}},
        "condition": layout,
        "labels": [{"kind": "box", "class": "hazard", "cx": "hazardCx", "cy": "hazardCy", "w": "hazardW", "h": "hazardH", "absentWhen": ["none"]}],
        "defaults": {"sampler": "ddim", "steps": 10, "guidance": 3.0},
        "provenance": provenance("/usr/bin/python3 training/reference/export_tiny.py"),
        "evaluation": {},
    }
    write_manifest(out, manifest)
    params = {"hazard": "pedestrian", "hazardCx": 0.5, "hazardCy": 0.6, "hazardW": 0.2, "hazardH": 0.4, "weather": "rain"}
    make_goldens(out, "tiny-model", model, manifest, (3, 16, 16), params, sched)


TINY_RGB_LAYOUT = {
        "width": 10,
        "fields": [
            {"name": "hazard", "kind": "categorical", "values": ["none", "pedestrian", "cone"], "offset": 0, "width": 3},
            {"name": "hazardCx", "kind": "scalar", "range": [0, 1], "offset": 3, "width": 1},
            {"name": "hazardCy", "kind": "scalar", "range": [0, 1], "offset": 4, "width": 1},
            {"name": "hazardW", "kind": "scalar", "range": [0, 1], "offset": 5, "width": 1},
            {"name": "hazardH", "kind": "scalar", "range": [0, 1], "offset": 6, "width": 1},
            {"name": "weather", "kind": "categorical", "values": ["clear", "rain", "fog"], "offset": 7, "width": 3},
        ],
        "unconditional": [0.0] * 10,
    }


def build_tiny_rgb() -> TinyUNet:
    """The tiny RGB denoiser, deterministically initialised (seed 0)."""
    torch.manual_seed(0)
    model = TinyUNet(3, TINY_RGB_LAYOUT["width"], skip=True).eval()
    # Scale the random output layer so trajectories stay in a sensible range.
    with torch.no_grad():
        model.out.weight.mul_(0.05)
        model.out.bias.mul_(0.05)
    return model


class LatentToImage(torch.nn.Module):
    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, latent):
        return self.dec(latent)


TINY_LATENT_LAYOUT = {
    "width": 5,
    "fields": [
        {"name": "pathology", "kind": "categorical", "values": ["none", "tumour"], "offset": 0, "width": 2},
        {"name": "lesionX", "kind": "scalar", "range": [0, 1], "offset": 2, "width": 1},
        {"name": "lesionY", "kind": "scalar", "range": [0, 1], "offset": 3, "width": 1},
        {"name": "lesionRadius", "kind": "scalar", "range": [0, 0.5], "offset": 4, "width": 1},
    ],
    "unconditional": [0.0] * 5,
}


def build_tiny_latent():
    """The tiny latent denoiser and decoder, deterministically initialised (seed 1)."""
    torch.manual_seed(1)
    model = TinyUNet(4, TINY_LATENT_LAYOUT["width"], base=8, temb=16).eval()
    decoder = TinyDecoder(4, 1).eval()
    return model, decoder


def latent_package() -> None:
    out = ROOT / "test/fixtures/tiny-model/latent"
    out.mkdir(parents=True, exist_ok=True)
    layout = TINY_LATENT_LAYOUT
    model, dec = build_tiny_latent()
    export_denoiser(model, out / "denoiser.onnx", (4, 8, 8), layout["width"])
    torch.onnx.export(LatentToImage(dec), (torch.zeros(2, 4, 8, 8),), str(out / "decoder.onnx"),
                      input_names=["latent"], output_names=["image"],
                      dynamic_axes={"latent": {0: "batch"}, "image": {0: "batch"}}, opset_version=17)
    sched = NoiseSchedule("scaled_linear", 1000, 0.00085, 0.012)
    manifest = {
        "schema": "rareforge.model/1", "name": "tiny-latent", "version": "0.0.1", "domain": "medical",
        "license": "Apache-2.0", "description": "Tiny randomly initialised latent denoiser + decoder for runtime tests (not trained).",
        "files": ["denoiser.onnx", "decoder.onnx"],
        "image": {"width": 16, "height": 16, "channels": 1, "valueRange": [-1, 1], "format": "png-gray16",
                  "modality": "MR", "storedRange": [0, 4095]},
        "latent": {"decoder": "decoder.onnx", "input": "latent", "output": "image", "shape": [4, 8, 8], "scalingFactor": 0.5},
        "denoiser": {"file": "denoiser.onnx", "inputs": {"sample": "sample", "timestep": "timestep", "condition": "condition"},
                     "output": "model_output", "timestepDtype": "float32", "prediction": "v",
                     "schedule": {"kind": "scaled_linear", "trainSteps": 1000, "betaStart": 0.00085, "betaEnd": 0.012}},
        "condition": layout,
        "labels": [{"kind": "circle", "class": "pathology", "cx": "lesionX", "cy": "lesionY", "radius": "lesionRadius", "absentWhen": ["none"], "mask": True}],
        "defaults": {"sampler": "dpmpp-2m", "steps": 10, "guidance": 2.0},
        "provenance": provenance("/usr/bin/python3 training/reference/export_tiny.py"),
        "evaluation": {},
    }
    write_manifest(out, manifest)
    params = {"pathology": "tumour", "lesionX": 0.4, "lesionY": 0.55, "lesionRadius": 0.15}
    make_goldens(out, "tiny-latent", model, manifest, (4, 8, 8), params, sched)
    # decoder golden: one call
    gen = torch.Generator().manual_seed(99)
    lat = torch.randn(2, 4, 8, 8, generator=gen)
    with torch.no_grad():
        img = dec(lat)
    write_f32(out / "decoder_input.f32", lat)
    write_f32(out / "decoder_output.f32", img)
    g = json.loads((out / "golden.json").read_text())
    g["decoderCalls"] = [{"input": "decoder_input.f32", "inputShape": [2, 4, 8, 8], "output": "decoder_output.f32"}]
    (out / "golden.json").write_text(json.dumps(g, indent=2) + "\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    rgb_package()
    latent_package()
    print("exported tiny-model and tiny-latent")
