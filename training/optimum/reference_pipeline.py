"""PyTorch reference of diffusers' ONNX Stable-Diffusion pipelines on the tiny exports' weights.

  /usr/bin/python3 training/optimum/reference_pipeline.py

Runs the PyTorch modules of training/optimum/tiny_sd.py (rebuilt from their seeds by build_tiny_exports.py,
and checked against the per-part goldens it stored, so they are the weights inside the ONNX files) through
- text-to-image, as diffusers' OnnxStableDiffusionPipeline: tokenise prompt and negative prompt, encode
  both, classifier-free guidance (unconditional half first: noise = uncond + g (cond - uncond)), DDIM,
  VAE decode of latents / 0.18215, image = clamp(x / 2 + 0.5, 0, 1);
- inpainting, as OnnxStableDiffusionInpaintPipeline: the mask (grey / 255) nearest-resized to the latent
  grid and binarised at 0.5 (1 = repaint); masked image = image * (full-size mask < 0.5); its latents = VAE
  encoder mean * 0.18215; UNet input = cat(latents, mask, masked-image latents) on channels.
and writes test/fixtures/optimum/golden-txt2img.json and golden-inpaint.json (format in their "header" and
test/fixtures/optimum/README.md). The initial noise is stored so a runtime can inject it.
"""
from __future__ import annotations

import base64
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from build_tiny_exports import EXPORTS, OUT, SCALING_FACTOR, ExportSpec, build_modules, encode_tensor  # noqa: E402
from clip_bpe import ClipBpe, read_tokenizer_dir  # noqa: E402
from tiny_sd import TinyTextEncoder, TinyUNet, TinyVaeDecoder, TinyVaeEncoder  # noqa: E402

STEPS = 5
GUIDANCE = 7.5
STRENGTH = 0.6
CASES = [
    {"prompt": "dashcam photo, a pedestrian on the road at night, rain", "negativePrompt": "blurry, low quality, cartoon, watermark"},
    {"prompt": "dashcam photo, a animal on the road at dusk, fog", "negativePrompt": ""},
]
NOISE_SEED = {"tiny-sd": 1001, "tiny-sd-inpaint": 1002, "img2img": 1003}


class Ddim:
    """DDIM (Song et al. 2021, eq. 12 with eta = 0) with diffusers' DDIMScheduler options: scaled_linear betas,
    timestep_spacing "leading" plus steps_offset, set_alpha_to_one false, epsilon prediction, no clipping.
    Scalars in float64, tensors in float32 (as the TypeScript runtime)."""

    def __init__(self, config: dict):
        assert config["beta_schedule"] == "scaled_linear" and config["prediction_type"] == "epsilon"
        assert config["timestep_spacing"] == "leading" and not config["clip_sample"]
        self.train_steps = config["num_train_timesteps"]
        betas = np.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, self.train_steps, dtype=np.float64) ** 2
        self.alphas_cumprod = np.cumprod(1.0 - betas)
        # 1. the "previous" alpha of the last step: 1 if set_alpha_to_one, else alpha_bar at t = 0
        self.final_alpha_cumprod = 1.0 if config["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.steps_offset = config["steps_offset"]
        self.init_noise_sigma = 1.0
        self.timesteps: list[int] = []

    def set_timesteps(self, n: int) -> None:
        self.n = n
        ratio = self.train_steps // n
        self.timesteps = [int(i * ratio + self.steps_offset) for i in reversed(range(n))]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        """q(x_t | x_0), DDPM eq. (4): sqrt(a_t) x0 + sqrt(1 - a_t) noise."""
        a_t = self.alphas_cumprod[t]
        return float(a_t ** 0.5) * x0 + float((1 - a_t) ** 0.5) * noise

    def step(self, eps: torch.Tensor, t: int, sample: torch.Tensor) -> torch.Tensor:
        # 1. compute alphas at t and at the previous timestep t - T/n
        prev_t = t - self.train_steps // self.n
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        # 2. predicted x0, formula (12): (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
        x0 = (sample - float((1 - a_t) ** 0.5) * eps) / float(a_t ** 0.5)
        # 3. direction pointing to x_t (eta = 0: no variance), then x_{t-1} = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps
        return float(a_prev ** 0.5) * x0 + float((1 - a_prev) ** 0.5) * eps


@dataclass
class Pipeline:
    spec: ExportSpec
    tokenizer: ClipBpe
    text_encoder: TinyTextEncoder
    unet: TinyUNet
    vae_encoder: TinyVaeEncoder
    vae_decoder: TinyVaeDecoder
    scheduler_config: dict

    def timestep(self, t: int) -> torch.Tensor:
        """What diffusers feeds the UNet: np.array([t]) in the input's dtype; a rank-0 input gets a scalar."""
        return torch.tensor(float(t)) if self.spec.timestep == "float32-scalar" else torch.tensor([t], dtype=torch.int64)

    def encode_prompts(self, cases: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cond_ids = torch.tensor([self.tokenizer.tokenize(c["prompt"]) for c in cases])
        uncond_ids = torch.tensor([self.tokenizer.tokenize(c["negativePrompt"]) for c in cases])
        embeds = self.text_encoder(torch.cat([uncond_ids, cond_ids]))[0]  # unconditional half first
        return embeds, cond_ids, uncond_ids

    def denoise(self, latents: torch.Tensor, embeds: torch.Tensor, extra: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
        scheduler = Ddim(self.scheduler_config)
        scheduler.set_timesteps(STEPS)
        latents = latents * scheduler.init_noise_sigma
        trajectory = []
        for t in scheduler.timesteps:
            model_input = torch.cat([latents, latents])
            if extra is not None:
                model_input = torch.cat([model_input, extra], dim=1)
            out = self.unet(model_input, self.timestep(t), embeds)
            uncond, cond = out.chunk(2)
            eps = uncond + GUIDANCE * (cond - uncond)
            latents = scheduler.step(eps, t, latents)
            trajectory.append(latents)
        return latents, trajectory, scheduler.timesteps

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return (self.vae_decoder(latents / SCALING_FACTOR) / 2 + 0.5).clamp(0, 1)


def load_pipeline(spec: ExportSpec) -> tuple[Pipeline, dict]:
    export = OUT / spec.name
    vocab, merges = read_tokenizer_dir(export / "tokenizer")
    config = json.loads((export / "tokenizer/tokenizer_config.json").read_text())
    modules = build_modules(spec, len(vocab))
    check_against_parts(spec, modules)
    scheduler_config = json.loads((export / "scheduler/scheduler_config.json").read_text())
    pipe = Pipeline(spec, ClipBpe(vocab, merges, config["model_max_length"], config["pad_token"]), modules["text_encoder"],
                    modules["unet"], modules["vae_encoder"], modules["vae_decoder"], scheduler_config)
    return pipe, scheduler_config


def decode_tensor(stored: dict) -> torch.Tensor:
    dtype = {"float32": "<f4", "int64": "<i8"}[stored["dtype"]]
    return torch.from_numpy(np.frombuffer(base64.b64decode(stored["base64"]), dtype=dtype).reshape(stored["dims"]).copy())


def check_against_parts(spec: ExportSpec, modules: dict) -> None:
    """The rebuilt modules are the exported ones: they reproduce the builder's stored per-part outputs."""
    parts = json.loads((OUT / "parts" / f"{spec.name}.json").read_text())["parts"]
    with torch.no_grad():
        for part, golden in parts.items():
            result = modules[part](*[decode_tensor(v) for v in golden["inputs"].values()])
            result = result if isinstance(result, tuple) else (result,)
            for value, stored in zip(result, golden["outputs"].values()):
                diff = (value - decode_tensor(stored)).abs().max().item()
                if diff > 1e-6:
                    raise SystemExit(f"{spec.name}/{part}: rebuilt module differs from the export by {diff}")


def reference_frame() -> tuple[np.ndarray, np.ndarray]:
    """A 64x64 road-like RGB frame and a grey mask (soft-edged box, values either side of 127.5)."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    sky = np.stack([90 + y, 140 + y, 200 + 0 * y], -1)
    road_half_width = np.clip((y - 28) * 0.9, 0, None)
    on_road = (y >= 28) & (np.abs(x - 32) <= road_half_width)
    ground = np.where(on_road[..., None], [[[80, 80, 85]]], [[[70, 120, 60]]])
    image = np.where((y >= 28)[..., None], ground, sky)
    image[(y >= 30) & (np.abs(x - 32) < 1) & ((y // 4) % 2 == 0)] = [230, 230, 230]  # dashed centre line
    mask = np.zeros((64, 64))
    mask[36:56, 20:44] = 255  # the repaint box
    mask[34:36, 20:44] = 128  # an edge just above 127.5: repaint
    mask[56:58, 20:44] = 127  # just below: keep
    mask[36:56, 16:20] = 100
    return image.astype(np.uint8), mask.astype(np.uint8)


def nearest_latent_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """PIL's NEAREST resize to h x w (source pixel floor((i + 0.5) * H / h)), / 255, binarised at 0.5."""
    rows = np.floor((np.arange(h) + 0.5) * mask.shape[0] / h).astype(int)
    cols = np.floor((np.arange(w) + 0.5) * mask.shape[1] / w).astype(int)
    small = mask[rows][:, cols].astype(np.float32) / 255.0
    pil = np.asarray(Image.fromarray(mask).resize((w, h), Image.NEAREST)).astype(np.float32) / 255.0
    assert np.array_equal(small, pil), "nearest resize differs from PIL's"
    return (small >= 0.5).astype(np.float32)


def header(kind: str) -> str:
    common = ("Tensors: {dtype, dims, base64 of little-endian bytes}. Written by training/optimum/reference_pipeline.py "
              "(PyTorch modules of the export's weights). DDIM eta 0 with the export's scheduler_config.json (scaled_linear "
              "betas, leading spacing + steps_offset, set_alpha_to_one false, epsilon); guidance: noise = uncond + g (cond - "
              "uncond), the UNet batch holding the negative prompts first, then the prompts. 'noise' [B,4,8,8] is the "
              "initial latents (init_noise_sigma 1): sample i's noise is noise[i]. 'latentsPerStep' are the latents after "
              "each step; 'finalLatents' the last; 'image' = clamp(vae_decoder(finalLatents / 0.18215) / 2 + 0.5, 0, 1) "
              "[B,3,64,64]; 'promptEmbeds' the text encoder's last_hidden_state for [negatives..., prompts...]. ")
    if kind == "img2img":
        return common + ("Image-to-image and 4-channel inpainting by latent blending on the text-to-image export (tiny-sd), "
                         "the reference frame and mask of golden-inpaint.json: 'startLatents' [1,4,8,8] = vae_encoder(pixel / "
                         "127.5 - 1) mean * 0.18215; with strength s, DDIM runs the last floor(steps * s) of its timesteps "
                         "('runs.*.timesteps'), from add_noise(startLatents, noise, first) = sqrt(a_t) x0 + sqrt(1 - a_t) noise. "
                         "'runs.latentBlendInpaint': after each step latents = m * latents + (1 - m) * known, m = 'maskLatent' "
                         "(as in golden-inpaint.json) on every channel, known = add_noise(startLatents, noise, next timestep), "
                         "startLatents after the last step. 'runs.imageToImage': no mask.")
    if kind == "inpaint":
        return common + ("Inpainting (9-channel UNet): 'referenceImage' uint8 [64,64,3] RGB and 'mask' uint8 [64,64] grey "
                         "(also reference.png, mask.png in inpaint/); image in [-1,1] = pixel / 127.5 - 1; 'maskedImage' = "
                         "image * (mask < 127.5) [1,3,64,64]; 'maskLatent' [1,1,8,8] = mask nearest-resized (PIL NEAREST: "
                         "source pixel floor((i + 0.5) * 8)) / 255 binarised at 0.5 (1 = repaint); 'maskedImageLatents' = "
                         "vae_encoder(maskedImage) mean (first 4 of 8 channels) * 0.18215 [1,4,8,8]; UNet input = cat(latents, "
                         "mask, maskedImageLatents) on channels, mask and masked latents repeated over the batch.")
    return common


def run(spec: ExportSpec, kind: str) -> dict:
    pipe, scheduler_config = load_pipeline(spec)
    gen = torch.Generator().manual_seed(NOISE_SEED[spec.name])
    b, h = len(CASES), 8
    noise = torch.randn(b, 4, h, h, generator=gen)
    golden: dict = {"header": header(kind), "export": spec.name, "torchVersion": torch.__version__,
                    "scheduler": {"kind": "ddim", "eta": 0, "config": scheduler_config}, "steps": STEPS, "guidance": GUIDANCE,
                    "scalingFactor": SCALING_FACTOR, "cases": CASES}
    with torch.no_grad():
        embeds, cond_ids, uncond_ids = pipe.encode_prompts(CASES)
        extra = None
        if kind == "inpaint":
            image_u8, mask_u8 = reference_frame()
            image = torch.from_numpy(image_u8.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
            masked_image = image * torch.from_numpy(mask_u8 < 127.5)[None, None].float()
            mask_latent = torch.from_numpy(nearest_latent_mask(mask_u8, h, h))[None, None]
            masked_latents = pipe.vae_encoder(masked_image)[:, :4] * SCALING_FACTOR
            extra = torch.cat([mask_latent.repeat(2 * b, 1, 1, 1), masked_latents.repeat(2 * b, 1, 1, 1)], dim=1)
            inpaint_dir = OUT / "inpaint"
            inpaint_dir.mkdir(exist_ok=True)
            Image.fromarray(image_u8).save(inpaint_dir / "reference.png")
            Image.fromarray(mask_u8).save(inpaint_dir / "mask.png")
            golden.update({"referenceImage": encode_uint8(image_u8), "mask": encode_uint8(mask_u8),
                           "maskedImage": encode_tensor(masked_image), "maskLatent": encode_tensor(mask_latent),
                           "maskedImageLatents": encode_tensor(masked_latents)})
        final, trajectory, timesteps = pipe.denoise(noise, embeds, extra)
        image_out = pipe.decode(final)
    golden.update({
        "timesteps": timesteps, "inputIds": encode_tensor(cond_ids), "negativeInputIds": encode_tensor(uncond_ids),
        "promptEmbeds": encode_tensor(embeds), "noise": encode_tensor(noise),
        "latentsPerStep": [encode_tensor(x) for x in trajectory], "finalLatents": encode_tensor(final),
        "image": encode_tensor(image_out),
    })
    print(f"{spec.name} {kind}: timesteps {timesteps}, final latents std {final.std():.3f}, image mean {image_out.mean():.3f} "
          f"(clamped {(image_out == 0).float().mean() + (image_out == 1).float().mean():.3f})")
    return golden


def run_image_to_image(spec: ExportSpec) -> dict:
    """Image-to-image and 4-channel inpainting by latent blending on a text-to-image export, as RareForge's
    pipeline does for its own packages (src/diffusion/pipeline.ts) and diffusers' StableDiffusionImg2ImgPipeline:
    start latents = VAE encoder mean * 0.18215; DDIM runs the last floor(steps * strength) timesteps, starting
    from add_noise(start latents, noise, first of them); with a mask, after each step the latents outside the
    mask are replaced by add_noise(start latents, noise, next timestep) (the start latents after the last)."""
    pipe, scheduler_config = load_pipeline(spec)
    gen = torch.Generator().manual_seed(NOISE_SEED["img2img"])
    b, h = len(CASES), 8
    noise = torch.randn(b, 4, h, h, generator=gen)
    image_u8, mask_u8 = reference_frame()
    runs = {}
    with torch.no_grad():
        image = torch.from_numpy(image_u8.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        start = (pipe.vae_encoder(image)[:, :4] * SCALING_FACTOR).repeat(b, 1, 1, 1)
        mask_latent = torch.from_numpy(nearest_latent_mask(mask_u8, h, h))[None, None]
        embeds = pipe.encode_prompts(CASES)[0]
        for name, blend in (("imageToImage", False), ("latentBlendInpaint", True)):
            scheduler = Ddim(scheduler_config)
            scheduler.set_timesteps(STEPS)
            timesteps = scheduler.timesteps[STEPS - int(STEPS * STRENGTH):]
            latents = scheduler.add_noise(start, noise, timesteps[0])
            trajectory = []
            for i, t in enumerate(timesteps):
                out = pipe.unet(torch.cat([latents, latents]), pipe.timestep(t), embeds)
                uncond, cond = out.chunk(2)
                latents = scheduler.step(uncond + GUIDANCE * (cond - uncond), t, latents)
                if blend:
                    known = scheduler.add_noise(start, noise, timesteps[i + 1]) if i + 1 < len(timesteps) else start
                    latents = mask_latent * latents + (1 - mask_latent) * known
                trajectory.append(latents)
            runs[name] = {"timesteps": timesteps, "latentsPerStep": [encode_tensor(x) for x in trajectory],
                          "finalLatents": encode_tensor(latents), "image": encode_tensor(pipe.decode(latents))}
            print(f"{spec.name} {name}: timesteps {timesteps}, final latents std {latents.std():.3f}")
    return {
        "header": header("img2img"), "export": spec.name, "torchVersion": torch.__version__,
        "scheduler": {"kind": "ddim", "eta": 0, "config": scheduler_config}, "steps": STEPS, "strength": STRENGTH,
        "guidance": GUIDANCE, "scalingFactor": SCALING_FACTOR, "cases": CASES,
        "referenceImage": encode_uint8(image_u8), "mask": encode_uint8(mask_u8), "maskLatent": encode_tensor(mask_latent),
        "startLatents": encode_tensor(start[:1]), "noise": encode_tensor(noise), "runs": runs,
    }


def encode_uint8(array: np.ndarray) -> dict:
    return {"dtype": "uint8", "dims": list(array.shape), "base64": base64.b64encode(array.astype(np.uint8).tobytes()).decode("ascii")}


def main() -> None:
    specs = {s.name: s for s in EXPORTS}
    for name, kind, file in (("tiny-sd", "txt2img", "golden-txt2img.json"), ("tiny-sd-inpaint", "inpaint", "golden-inpaint.json")):
        golden = run(specs[name], kind)
        (OUT / file).write_text(json.dumps(golden) + "\n")
        print(f"test/fixtures/optimum/{file}: {(OUT / file).stat().st_size} bytes")
    (OUT / "golden-img2img.json").write_text(json.dumps(run_image_to_image(specs["tiny-sd"])) + "\n")
    print(f"test/fixtures/optimum/golden-img2img.json: {(OUT / 'golden-img2img.json').stat().st_size} bytes")


if __name__ == "__main__":
    main()
