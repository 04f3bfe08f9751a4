"""Build tiny random-weight Stable-Diffusion exports laid out exactly like `optimum-cli export onnx`'s.

  /usr/bin/python3 training/optimum/build_tiny_exports.py

  /usr/bin/python3 training/optimum/build_tiny_exports.py --bench-out /tmp/bench [--image-size 256 --unet-base 128]

The first writes test/fixtures/optimum/<name>/ for each export below (model_index.json, scheduler/, tokenizer/,
text_encoder/, unet/, vae_encoder/, vae_decoder/, each part's model.onnx and config.json) and
test/fixtures/optimum/parts/<name>.json: per-part inputs and the PyTorch modules' outputs, to check each
ONNX part against its module. Seeded: a rerun writes the same tensors (ONNX bytes may differ across torch
versions). See test/fixtures/optimum/README.md for the layouts and the golden format. The second builds
only a larger export of tiny-sd's kind for benchmarks (nothing under test/, not committed).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from clip_bpe import BOS, EOS, ClipBpe, learn_merges, merges_text, vocab_text, vocabulary_from_merges  # noqa: E402
from scenario_prompts import NEGATIVE_PROMPTS, scenario_prompts  # noqa: E402
from tiny_sd import TinyTextEncoder, TinyUNet, TinyVaeDecoder, TinyVaeEncoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test/fixtures/optimum"
OPSET = 17
MAX_LENGTH = 77
MERGE_COUNT = 240
SIZE_LIMIT = 5 * 1024 * 1024
SCALING_FACTOR = 0.18215
IMAGE_SIZE = 64


@dataclass(frozen=True)
class ExportSpec:
    name: str
    pipeline: str  # model_index.json's _class_name (Onnx*: diffusers' conversion script's form, else optimum-cli's)
    unet_in_channels: int  # 4: text-to-image, 9: inpainting (latents 4 + mask 1 + masked-image latents 4)
    text_width: int  # last_hidden_state's width = the UNet's cross_attention_dim
    timestep: str  # "float32-scalar" (Optimum today: rank 0) or "int64-batch" (older exports: [B])
    scheduler: str
    pad_token: str  # SD 1.x pads with <|endoftext|>, SD 2 with "!"
    seed: int
    unet_base: int = 24  # the UNet's first block width (the second is twice that)
    image_size: int = IMAGE_SIZE


EXPORTS = [
    ExportSpec("tiny-sd", "StableDiffusionPipeline", 4, 32, "float32-scalar", "PNDMScheduler", EOS, 20),
    ExportSpec("tiny-sd-inpaint", "OnnxStableDiffusionInpaintPipeline", 9, 48, "int64-batch", "DDIMScheduler", "!", 21),
]


def tokenizer_corpus() -> list[str]:
    return scenario_prompts() + NEGATIVE_PROMPTS


def tiny_merges() -> list[tuple[str, str]]:
    return learn_merges(tokenizer_corpus(), MERGE_COUNT)


def tiny_tokenizer(pad_token: str = EOS) -> ClipBpe:
    merges = tiny_merges()
    return ClipBpe(vocabulary_from_merges(merges), merges, MAX_LENGTH, pad_token)


def build_modules(spec: ExportSpec, vocab_size: int) -> dict[str, torch.nn.Module]:
    """The four parts, deterministically initialised from the spec's seed, output layers scaled so that
    the UNet predicts noise of about unit variance and the decoder's image lies in about [-1, 1]."""
    torch.manual_seed(spec.seed)
    text = TinyTextEncoder(vocab_size, spec.text_width).eval()
    unet = TinyUNet(spec.unet_in_channels, spec.text_width, base=spec.unet_base).eval()
    vae_encoder = TinyVaeEncoder().eval()
    vae_decoder = TinyVaeDecoder().eval()
    with torch.no_grad():
        unet.conv_out.weight.mul_(2.0)
        vae_decoder.conv_out.weight.mul_(0.8)
        vae_encoder.conv_out.weight.mul_(1.5)
    return {"text_encoder": text, "unet": unet, "vae_encoder": vae_encoder, "vae_decoder": vae_decoder}


def timestep_tensor(spec: ExportSpec, values: list[float]) -> torch.Tensor:
    if spec.timestep == "float32-scalar":
        return torch.tensor(values[0], dtype=torch.float32)
    return torch.tensor(values, dtype=torch.int64)


def part_inputs(spec: ExportSpec, tokenizer: ClipBpe, gen: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
    """Inputs for each part: the tokens of two prompts, two random latents; one random image (64x64 images
    dominate the file size, and the batch axis is exercised by the text encoder and the UNet)."""
    b, h = 2, spec.image_size // 8
    ids = torch.tensor([tokenizer.tokenize(p) for p in ("dashcam photo, a cyclist on the road at night, rain", "")])
    return {
        "text_encoder": {"input_ids": ids},
        "unet": {
            "sample": torch.randn(b, spec.unet_in_channels, h, h, generator=gen),
            "timestep": timestep_tensor(spec, [981.0, 41.0]),
            "encoder_hidden_states": torch.randn(b, MAX_LENGTH, spec.text_width, generator=gen),
        },
        "vae_encoder": {"sample": torch.rand(1, 3, spec.image_size, spec.image_size, generator=gen) * 2 - 1},
        "vae_decoder": {"latent_sample": torch.randn(1, 4, h, h, generator=gen) / SCALING_FACTOR},
    }


OUTPUT_NAMES = {
    "text_encoder": ["last_hidden_state", "pooler_output"],
    "unet": ["out_sample"],
    "vae_encoder": ["latent_parameters"],
    "vae_decoder": ["sample"],
}


def dynamic_axes(spec: ExportSpec, part: str) -> dict[str, dict[int, str]]:
    """Optimum's dynamic axes for each part (optimum/exporters/onnx/model_configs.py, 1.x: CLIPTextOnnxConfig,
    UNetOnnxConfig, VaeEncoderOnnxConfig, VaeDecoderOnnxConfig). Channel axes are static; the UNet's timestep
    is a scalar ({}) in Optimum's own export, [steps] in older diffusers conversion scripts."""
    image = {0: "batch_size", 2: "height", 3: "width"}
    latent = {0: "batch_size", 2: "height_latent", 3: "width_latent"}
    return {
        "text_encoder": {
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
            "pooler_output": {0: "batch_size"},
        },
        "unet": {
            "sample": {0: "batch_size", 2: "height", 3: "width"},
            "timestep": {} if spec.timestep == "float32-scalar" else {0: "steps"},
            "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
            "out_sample": {0: "batch_size", 2: "height", 3: "width"},
        },
        "vae_encoder": {"sample": image, "latent_parameters": latent},
        "vae_decoder": {"latent_sample": latent, "sample": image},
    }[part]


def part_config(spec: ExportSpec, part: str, vocab_size: int) -> dict:
    """The config.json Optimum saves beside each part (the fields a runtime may read)."""
    common = {"_diffusers_version": "0.30.0"}
    if part == "text_encoder":
        return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": spec.text_width,
                "max_position_embeddings": MAX_LENGTH, "vocab_size": vocab_size, "num_hidden_layers": 2,
                "num_attention_heads": 2, "bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1,
                "pad_token_id": 1, "torch_dtype": "float32", "transformers_version": "4.44.0"}
    if part == "unet":
        return {"_class_name": "UNet2DConditionModel", **common, "in_channels": spec.unet_in_channels,
                "out_channels": 4, "sample_size": spec.image_size // 8, "cross_attention_dim": spec.text_width,
                "block_out_channels": [spec.unet_base, 2 * spec.unet_base], "attention_head_dim": 2}
    return {"_class_name": "AutoencoderKL", **common, "in_channels": 3, "out_channels": 3, "latent_channels": 4,
            "sample_size": spec.image_size, "scaling_factor": SCALING_FACTOR, "block_out_channels": [16]}


def scheduler_config(spec: ExportSpec) -> dict:
    """A Stable Diffusion 1.x scheduler_config.json (runwayml/stable-diffusion-v1-5's, options spelt out)."""
    config = {
        "_class_name": spec.scheduler, "_diffusers_version": "0.30.0",
        "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
        "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
        "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
    }
    if spec.scheduler == "DDIMScheduler":
        del config["skip_prk_steps"]
        config.update({"clip_sample_range": 1.0, "rescale_betas_zero_snr": False, "thresholding": False})
    return config


def model_index(spec: ExportSpec) -> dict:
    """Two forms exist in the wild, one per export here:
    - `optimum-cli export onnx` saves the source pipeline's own model_index.json (optimum main_export:
      model.save_config(output)): _class_name StableDiffusionPipeline, parts named by their PyTorch classes,
      one "vae" entry although the directory holds vae_encoder/ and vae_decoder/;
    - diffusers' ONNX conversion script writes an Onnx* pipeline whose parts are OnnxRuntimeModel."""
    if spec.pipeline.startswith("Onnx"):
        return {
            "_class_name": spec.pipeline, "_diffusers_version": "0.30.0",
            "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
            "scheduler": ["diffusers", spec.scheduler], "text_encoder": ["diffusers", "OnnxRuntimeModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "OnnxRuntimeModel"],
            "vae_decoder": ["diffusers", "OnnxRuntimeModel"], "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
        }
    return {
        "_class_name": spec.pipeline, "_diffusers_version": "0.30.0", "_name_or_path": "rareforge/tiny-sd",
        "feature_extractor": [None, None], "image_encoder": [None, None], "requires_safety_checker": False,
        "safety_checker": [None, None], "scheduler": ["diffusers", spec.scheduler],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    }


def added_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True, "rstrip": False,
            "single_word": False}


def tokenizer_files(spec: ExportSpec, merges: list[tuple[str, str]]) -> dict[str, str]:
    """SD 1.x writes bos/eos/unk as AddedToken objects; SD 2 as plain strings: one of each form here."""
    vocab = vocabulary_from_merges(merges)
    token = added_token if spec.pad_token == EOS else (lambda s: s)
    config = {"add_prefix_space": False, "bos_token": token(BOS), "clean_up_tokenization_spaces": True,
              "do_lower_case": True, "eos_token": token(EOS), "errors": "replace", "model_max_length": MAX_LENGTH,
              "pad_token": spec.pad_token, "tokenizer_class": "CLIPTokenizer", "unk_token": token(EOS)}
    special = {"bos_token": BOS, "eos_token": EOS, "pad_token": spec.pad_token, "unk_token": EOS}
    return {
        "vocab.json": vocab_text(vocab),
        "merges.txt": merges_text(merges),
        "tokenizer_config.json": json.dumps(config, indent=2) + "\n",
        "special_tokens_map.json": json.dumps(special, indent=2) + "\n",
    }


def encode_tensor(t: torch.Tensor) -> dict:
    """A tensor as JSON: dtype, dims and its little-endian bytes in base64 (exact, compact)."""
    dtype = {torch.float32: "float32", torch.int64: "int64"}[t.dtype]
    data = t.detach().contiguous().numpy().astype("<f4" if dtype == "float32" else "<i8").tobytes()
    return {"dtype": dtype, "dims": list(t.shape), "base64": base64.b64encode(data).decode("ascii")}


def export_part(module: torch.nn.Module, inputs: dict[str, torch.Tensor], outputs: list[str], path: Path,
                axes: dict[str, dict[int, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, tuple(inputs.values()), str(path), input_names=list(inputs), output_names=outputs,
                      dynamic_axes={k: v for k, v in axes.items() if v}, opset_version=OPSET, do_constant_folding=True)


def build(spec: ExportSpec, merges: list[tuple[str, str]], root: Path = OUT) -> dict:
    """Writes the export under root/<name>/ and returns its per-part goldens."""
    out = root / spec.name
    vocab = vocabulary_from_merges(merges)
    tokenizer = ClipBpe(vocab, merges, MAX_LENGTH, spec.pad_token)
    modules = build_modules(spec, len(vocab))
    inputs = part_inputs(spec, tokenizer, torch.Generator().manual_seed(spec.seed))
    (out / "scheduler").mkdir(parents=True, exist_ok=True)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    (out / "model_index.json").write_text(json.dumps(model_index(spec), indent=2) + "\n")
    (out / "scheduler/scheduler_config.json").write_text(json.dumps(scheduler_config(spec), indent=2) + "\n")
    for name, text in tokenizer_files(spec, merges).items():
        (out / "tokenizer" / name).write_text(text, encoding="utf-8")
    parts = {}
    for part, module in modules.items():
        export_part(module, inputs[part], OUTPUT_NAMES[part], out / part / "model.onnx", dynamic_axes(spec, part))
        (out / part / "config.json").write_text(json.dumps(part_config(spec, part, len(vocab)), indent=2) + "\n")
        with torch.no_grad():
            result = module(*inputs[part].values())
        result = result if isinstance(result, tuple) else (result,)
        parts[part] = {"inputs": {k: encode_tensor(v) for k, v in inputs[part].items()},
                       "outputs": {k: encode_tensor(v) for k, v in zip(OUTPUT_NAMES[part], result)}}
        stats = ", ".join(f"{k} std {v.std():.3f} range [{v.min():.2f}, {v.max():.2f}]" for k, v in zip(OUTPUT_NAMES[part], result))
        print(f"{spec.name}/{part}: {stats}")
    return {"export": spec.name, "generator": "training/optimum/build_tiny_exports.py", "torchVersion": torch.__version__,
            "timestep": spec.timestep, "parts": parts}


def build_odd_unet() -> None:
    """A UNet whose `sample` has 5 channels (neither 4 nor 9) but is otherwise tiny-sd's interface: for the runtime's
    refusal of a layout it cannot run. test/fixtures/optimum/odd-parts/unet-5-channels.onnx."""
    spec = EXPORTS[0]
    torch.manual_seed(30)
    unet = TinyUNet(5, spec.text_width, base=8, temb_dim=16).eval()
    inputs = {"sample": torch.zeros(2, 5, 8, 8), "timestep": timestep_tensor(spec, [10.0]),
              "encoder_hidden_states": torch.zeros(2, MAX_LENGTH, spec.text_width)}
    export_part(unet, inputs, OUTPUT_NAMES["unet"], OUT / "odd-parts/unet-5-channels.onnx", dynamic_axes(spec, "unet"))


def fixture_size() -> int:
    return sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())


def build_bench_export(root: Path, image_size: int, unet_base: int) -> None:
    """A larger export of tiny-sd's kind for benchmarks (not a fixture, nothing committed): the same layout and
    tokenizer, an image_size x image_size image and a UNet of width unet_base / 2 unet_base."""
    if image_size % 8 or unet_base % 16:
        raise SystemExit("--image-size must be a multiple of 8 and --unet-base of 16 (GroupNorm groups, attention heads)")
    spec = replace(EXPORTS[0], name=f"bench-sd-{image_size}-{unet_base}", seed=40, unet_base=unet_base, image_size=image_size)
    build(spec, tiny_merges(), root)
    size = sum(p.stat().st_size for p in (root / spec.name).rglob("*") if p.is_file())
    print(f"{root / spec.name}: {size} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-out", type=Path, help="build only a larger benchmark export into this directory")
    parser.add_argument("--image-size", type=int, default=256, help="benchmark export: image side in pixels (default 256)")
    parser.add_argument("--unet-base", type=int, default=128, help="benchmark export: UNet width (default 128)")
    args = parser.parse_args()
    if args.bench_out:
        build_bench_export(args.bench_out, args.image_size, args.unet_base)
        return
    merges = tiny_merges()
    print(f"tiny vocabulary: {len(vocabulary_from_merges(merges))} entries ({len(merges)} merges)")
    (OUT / "parts").mkdir(parents=True, exist_ok=True)
    for spec in EXPORTS:
        golden = build(spec, merges)
        (OUT / "parts" / f"{spec.name}.json").write_text(json.dumps(golden) + "\n")
    build_odd_unet()
    size = fixture_size()
    print(f"test/fixtures/optimum: {size} bytes")
    if size > SIZE_LIMIT:
        raise SystemExit(f"fixtures exceed {SIZE_LIMIT} bytes")


if __name__ == "__main__":
    main()
