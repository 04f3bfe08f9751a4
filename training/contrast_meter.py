"""A pixel-based lesion-contrast meter for brain-mri images: python3 training/contrast_meter.py <fit|check>

The renderer (training/procedural/brain.py) defines contrast as the fraction c by which the tissue inside
the lesion's circle moves towards the pathological signal: img = base + c * blend * (target - base), then
a smooth bias field and Rician noise. The meter reads the pixels the sample's ground truth points at: a
window of WINDOW radii around the labelled circle (lesionX, lesionY, lesionRadius), resampled to CROP x
CROP and divided by the median of a ring of surrounding tissue (which removes the bias field and the
tissue's own level), and regresses c from it with a small MLP per the pathology one-hot. Mean-minus-ring
alone is not enough: small bright "lesions" foci look like CSF, a haemorrhage's dark core cancels its
bright rim (both are in the features, the network learns the renderer's shape of each).

Fitted on renders with known contrast (seed FIT_SEED, blur/noise augmentation imitating diffusion
output), judged on held-out renders (seed CHECK_SEED): `check` prints MAE overall, per pathology and per
contrast bin and fails above MAX_MAE. Weights: training/reports/contrast-meter.npz.

Version 2 (`fit --version 2`, training/reports/contrast-meter-2.npz; training/README.md section 16) is the sharper
judge: a second, wider window (WINDOWS_2: ±3.5 radii, which shows the ventricles and cortex the lesion may lie
over) beside a finer lesion window, a tower of convolutions per window, 24 000 renders (POOL_SEED, each seen in two
augmented copies) and the mean of its reading over the 8 flips/rotations of the windows. It judges the contrast
the map produces; version 1 fitted the map (contrast_calibration.py), so the judge is not the meter the map was
fitted to. Its held-out figures are read on the same renders as version 1's.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from procedural import brain  # noqa: E402
from rareforge_train import served  # noqa: E402
from rareforge_train.served import bilinear  # noqa: E402  (pixel centres at integers, edges clamped)

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = os.path.join(TRAINING_DIR, "reports", "contrast-meter.npz")
DATA_DIR = os.path.join(TRAINING_DIR, "data")
PATHOLOGIES = ["tumour", "haemorrhage", "lesions"]
CROP, WINDOW = 20, 1.6              # CROP x CROP samples over centre +- WINDOW * radius
RING = (1.25, 1.9)                  # surrounding tissue, in radii
FIT_SEED, CHECK_SEED = 31, 32
MAX_MAE = 0.05                      # issue 17: a judge of contrast must be well inside the 0.05 target


def _level(image, cx, cy, radius):
    """The median of the ring of tissue around the labelled circle (removes the bias field and the tissue's level)."""
    return served.ring_level(image, (cx, cy, radius), RING)


def _window(image, cx, cy, radius, crop, half, level):
    """crop x crop samples over centre +- half radii, divided by the ring's level."""
    w = image.shape[1]
    t = np.linspace(-half, half, crop)
    xs, ys = (cx + t[None, :] * radius) * w - 0.5, (cy + t[:, None] * radius) * w - 0.5
    return bilinear(image, np.broadcast_to(xs, (crop, crop)), np.broadcast_to(ys, (crop, crop))).reshape(-1) / max(level, 0.05) - 1.0


def _extras(image, pathology, radius, level):
    onehot = [1.0 if pathology == p else 0.0 for p in PATHOLOGIES]
    # The tissue levels of the whole slice (white matter dominates the head's histogram, CSF its top): with them
    # the ring's level says which tissue surrounds the lesion, and the absolute target levels become usable.
    head = image[image > 0.2]
    tissue = np.percentile(head, GLOBAL_QUANTILES) / max(level, 0.05) if head.size else np.zeros(len(GLOBAL_QUANTILES))
    return np.concatenate([[radius / 0.15, level], onehot, tissue])


def features(image, pathology, cx, cy, radius):
    """image: [H, W] in [0, 1]; the circle in fractions of the width. Returns the meter's input vector: the recipe
    the manifest declares for the runtime's feedback (FEATURE_SPEC; served.meter_features)."""
    return served.meter_features(image, (cx, cy, radius), PATHOLOGIES.index(pathology), FEATURE_SPEC)


GLOBAL_QUANTILES = [10, 25, 40, 50, 60, 75, 90, 97]
EXTRAS = 2 + len(PATHOLOGIES) + len(GLOBAL_QUANTILES)   # radius, ring level, pathology one-hot, slice tissue levels

WEIGHTS_2 = os.path.join(TRAINING_DIR, "reports", "contrast-meter-2.npz")
WINDOWS_2 = ((24, 1.6), (16, 3.5))   # version 2: (samples per side, half-width in radii): the lesion, its context
POOL_SEED, POOL_CHUNK = 41, 500      # version 2's training renders: chunks of POOL_CHUNK per pathology


def features_2(image, pathology, cx, cy, radius):
    """Version 2's input: each of WINDOWS_2 resampled and divided by the ring's level, then the same extras as
    version 1 (radius, ring level, pathology one-hot, slice tissue levels)."""
    level = _level(image, cx, cy, radius)
    return np.concatenate([_window(image, cx, cy, radius, crop, half, level) for crop, half in WINDOWS_2]
                          + [_extras(image, pathology, radius, level)]).astype(np.float32)


FEATURES = {1: features, 2: features_2}
CROPS = {1: (CROP,), 2: tuple(crop for crop, _ in WINDOWS_2)}


def build_network(version=1):
    import torch.nn as nn
    if version == 2:
        return _build_network_2()

    class Meter(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(64 + EXTRAS, 96), nn.ReLU(), nn.Linear(96, 64), nn.ReLU(), nn.Linear(64, 1))

        def forward(self, x):
            import torch
            crop, extras = x[:, :CROP * CROP].reshape(-1, 1, CROP, CROP), x[:, CROP * CROP:]
            h = self.conv(crop)
            pooled = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
            return self.head(torch.cat([pooled, extras], 1))[:, 0]

    return Meter()


def _build_network_2(width=32):
    import torch
    import torch.nn as nn
    (c1, c2) = CROPS[2]

    def tower():
        return nn.Sequential(nn.Conv2d(1, width // 2, 3, padding=1), nn.ReLU(), nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(width, width, 3, padding=1), nn.ReLU())

    class TwoWindowMeter(nn.Module):
        def __init__(self):
            super().__init__()
            self.t1, self.t2 = tower(), tower()
            self.head = nn.Sequential(nn.Linear(4 * width + EXTRAS, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))

        def forward(self, x):
            lesion = x[:, :c1 * c1].reshape(-1, 1, c1, c1)
            context = x[:, c1 * c1:c1 * c1 + c2 * c2].reshape(-1, 1, c2, c2)
            h1, h2 = self.t1(lesion), self.t2(context)
            return self.head(torch.cat([h1.mean((2, 3)), h1.amax((2, 3)), h2.mean((2, 3)), h2.amax((2, 3)),
                                        x[:, c1 * c1 + c2 * c2:]], 1))[:, 0]

    return TwoWindowMeter()


class ContrastMeter:
    """A fitted meter (version 1 or 2, as its weights file says)."""

    def __init__(self, path=WEIGHTS):
        import torch
        data = np.load(path)
        self.version = int(data["version"]) if "version" in data.files else 1
        self.range = tuple(float(x) for x in data["range"])
        self.net = build_network(self.version).eval()
        self.net.load_state_dict({k[len("net."):]: torch.from_numpy(data[k]) for k in data.files if k.startswith("net.")})

    def measure_features(self, feats):
        import torch
        x = torch.from_numpy(np.atleast_2d(feats).astype(np.float32))
        with torch.no_grad():
            if self.version == 1:
                out = self.net(x).numpy()
            else:   # the mean over the 8 flips/rotations of the windows
                out = np.mean([self.net(_dihedral(x, k, CROPS[2])).numpy() for k in range(8)], 0)
        return np.clip(out, *self.range)

    def measure(self, image, pathology, cx, cy, radius):
        """Estimated lesion contrast of one image (renderer's definition, clipped to its range)."""
        return float(self.measure_features(FEATURES[self.version](image, pathology, cx, cy, radius))[0])


def augment(image, rng):
    """Diffusion-like artefacts: a mild random blur and extra noise (half the images stay clean)."""
    if rng.uniform() < 0.5:
        return image
    s = rng.uniform(0.3, 0.9)
    k = np.exp(-0.5 * (np.arange(-2, 3) / s) ** 2)
    k /= k.sum()
    pad = np.pad(image, 2, mode="edge")
    blurred = sum(k[i] * pad[:, i:i + image.shape[1]] for i in range(5))
    blurred = sum(k[i] * blurred[i:i + image.shape[0], :] for i in range(5))
    return np.clip(blurred + rng.normal(0, rng.uniform(0, 0.02), image.shape), 0, 1)


def renders(seed, per_pathology, augmented, version=1):
    """(features, true contrast, pathology) of renders drawn as the generator draws them (cached in training/data/);
    the same renders for either version, read by that version's features."""
    tag = f"c{CROP}-g{len(GLOBAL_QUANTILES)}" if version == 1 else "v2"
    path = os.path.join(DATA_DIR, f"contrast-meter-s{seed}-n{per_pathology}-{'aug' if augmented else 'clean'}-{tag}.npz")
    if os.path.exists(path):
        data = np.load(path)
        return data["feats"], data["truth"], data["kinds"]
    rng = np.random.default_rng(seed)
    feats, truth, kinds = [], [], []
    for pathology in PATHOLOGIES:
        for _ in range(per_pathology):
            c = brain.draw_condition(rng, pathology)
            image = brain.render(c, rng)[0]
            if augmented:
                image = augment(image, rng)
            feats.append(FEATURES[version](image, pathology, c["lesionX"], c["lesionY"], c["lesionRadius"]))
            truth.append(c["lesionContrast"])
            kinds.append(pathology)
    os.makedirs(DATA_DIR, exist_ok=True)
    out = np.stack(feats), np.array(truth, np.float32), np.array(kinds)
    np.savez(path, feats=out[0], truth=out[1], kinds=out[2])
    return out


def _dihedral(x, k, crops=(CROP,)):
    """The k-th of the 8 flips/rotations of each crop (extras unchanged)."""
    import torch
    parts, at = [], 0
    for size in crops:
        crop = torch.rot90(x[:, at:at + size * size].reshape(-1, size, size), k % 4, (1, 2))
        if k >= 4:
            crop = torch.flip(crop, (2,))
        parts.append(crop.reshape(len(x), -1))
        at += size * size
    return torch.cat(parts + [x[:, at:]], 1)


def fit(per_pathology=5000, epochs=45, weights=WEIGHTS, log=print):
    import torch
    torch.manual_seed(0)
    started = time.time()
    x, y, _ = renders(FIT_SEED, per_pathology, augmented=True)
    log(f"{len(y)} training renders ready in {time.time() - started:.0f}s")
    net = _train(build_network(1), x, y, epochs, CROPS[1], log)
    np.savez(weights, range=np.array(brain.CONTRAST_RANGE), **{f"net.{k}": v.numpy() for k, v in net.state_dict().items()})
    log(f"wrote {weights}")


def _train(net, x, y, epochs, crops, log):
    """Adam with a one-cycle schedule, batches of 128, each batch's windows flipped/rotated at random."""
    import torch
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-5)
    steps = epochs * ((len(yt) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        perm = torch.randperm(len(yt))
        for i in range(0, len(yt), 128):
            idx = perm[i:i + 128]
            loss = torch.nn.functional.smooth_l1_loss(net(_dihedral(xt[idx], int(torch.randint(8, ())), crops)), yt[idx], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            with torch.no_grad():
                log(f"{time.strftime('%H:%M:%S')} epoch {epoch}: train MAE {float((net(xt[:3000]) - yt[:3000]).abs().mean()):.4f}")
    return net


def render_pool(per_pathology, seed=POOL_SEED, log=print):
    """Version 2's training renders, clean, as float16 images with (pathology index, x, y, radius, contrast); chunk i
    (POOL_CHUNK per pathology) draws from its own generator [seed, i * POOL_CHUNK], cached in training/data/."""
    images, conds = [], []
    for start in range(0, per_pathology, POOL_CHUNK):
        path = os.path.join(DATA_DIR, f"contrast-meter-pool-s{seed}-c{start}.npz")
        if not os.path.exists(path):
            rng = np.random.default_rng([seed, start])
            chunk_images, chunk_conds = [], []
            for index, pathology in enumerate(PATHOLOGIES):
                for _ in range(min(POOL_CHUNK, per_pathology - start)):
                    c = brain.draw_condition(rng, pathology)
                    chunk_images.append(brain.render(c, rng)[0].astype(np.float16))
                    chunk_conds.append([index, c["lesionX"], c["lesionY"], c["lesionRadius"], c["lesionContrast"]])
            os.makedirs(DATA_DIR, exist_ok=True)
            np.savez(path + ".part.npz", imgs=np.stack(chunk_images), conds=np.array(chunk_conds, np.float32))
            os.replace(path + ".part.npz", path)
            log(f"{time.strftime('%H:%M:%S')} rendered {os.path.relpath(path, TRAINING_DIR)}")
        data = np.load(path)
        images.append(data["imgs"].astype(np.float32))
        conds.append(data["conds"])
    return np.concatenate(images), np.concatenate(conds)


def fit_2(per_pathology=8000, epochs=40, weights=WEIGHTS_2, log=print):
    """Version 2: every pool render in two augmented copies (augmentation generators 1 and 2), read through
    features_2; trained like version 1 with its windows flipped/rotated at random."""
    import torch
    started = time.time()
    images, conds = render_pool(per_pathology, log=log)
    copies = []
    for aug_seed in (1, 2):
        rng = np.random.default_rng(aug_seed)
        copies.append(np.stack([features_2(augment(image, rng), PATHOLOGIES[int(c[0])], c[1], c[2], c[3])
                                for image, c in zip(images, conds)]))
    x, y = np.concatenate(copies), np.concatenate([conds[:, 4], conds[:, 4]]).astype(np.float32)
    log(f"{len(y)} training windows ready in {time.time() - started:.0f}s")
    torch.manual_seed(0)
    net = _train(build_network(2), x, y, epochs, CROPS[2], log)
    np.savez(weights, version=np.array(2), range=np.array(brain.CONTRAST_RANGE),
             **{f"net.{k}": v.numpy() for k, v in net.state_dict().items()})
    log(f"wrote {weights}")


BINS = [0.25, 0.4, 0.55, 0.7, 0.85, 1.0001]


def validity(meter, per_pathology, augmented):
    """The meter's error on held-out renders: MAE overall, per pathology, per contrast bin (with bias)."""
    x, y, kinds = renders(CHECK_SEED + int(augmented), per_pathology, augmented, meter.version)
    err = meter.measure_features(x) - y
    table = {"n": int(len(y)), "mae": round(float(np.abs(err).mean()), 4), "bias": round(float(err.mean()), 4),
             "p95AbsError": round(float(np.percentile(np.abs(err), 95)), 4), "byPathology": {}, "byContrast": {}}
    for p in PATHOLOGIES:
        m = kinds == p
        table["byPathology"][p] = {"n": int(m.sum()), "mae": round(float(np.abs(err[m]).mean()), 4),
                                   "bias": round(float(err[m].mean()), 4)}
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (y >= lo) & (y < hi)
        table["byContrast"][f"{lo:.2f}-{min(hi, 1.0):.2f}"] = {"n": int(m.sum()), "mae": round(float(np.abs(err[m]).mean()), 4),
                                                                "bias": round(float(err[m].mean()), 4)}
    return table


# The runtime's feedback reads contrast with version 1 (model.json `condition.fields[].feedback`, kind
# "circle-contrast"): its feature recipe as the manifest declares it (rareforge_train/served.py meter_features and
# src/diffusion/feedback.ts meterFeatures compute it from these), and the ONNX file `export` writes.
METER_FILE = "contrast-meter.onnx"
FEATURE_SPEC = {"kind": "circle-contrast", "meter": METER_FILE, "input": "features", "output": "value", "classes": PATHOLOGIES,
                "window": {"samples": CROP, "halfWidth": WINDOW}, "ring": list(RING), "tissueQuantiles": GLOBAL_QUANTILES,
                "tissueFloor": 0.2, "radiusScale": 0.15}


def readers():
    """The runtime's meters by file name (served.feedback_x0's `meters`), read as their exported ONNX reads them."""
    return {METER_FILE: ContrastMeter().measure_features}


def export(path, weights=WEIGHTS):
    """Version 1 as ONNX (opset 17): input "features" [N, F] -> output "value" [N], clipped to the meter's range, as
    ContrastMeter.measure_features reads it. Before it is written, the recipe read from float32 renders (what the meter
    was trained on) is checked against the same renders read in float64 (as the runtime computes it)."""
    import torch
    meter = ContrastMeter(weights)
    if meter.version != 1:
        raise SystemExit("the runtime's feedback reads version 1 (its features); this weights file is another version")

    class Clipped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = meter.net

        def forward(self, features):
            return torch.clamp(self.net(features), meter.range[0], meter.range[1])

    rng = np.random.default_rng(CHECK_SEED)
    feats = []
    for pathology in PATHOLOGIES:
        for _ in range(8):
            cond = brain.draw_condition(rng, pathology)
            image = augment(brain.render(cond, rng)[0], rng)
            circle = (cond["lesionX"], cond["lesionY"], cond["lesionRadius"])
            ours = features(image, pathology, *circle)
            served_feats = served.meter_features(image.astype(np.float64), circle, PATHOLOGIES.index(pathology), FEATURE_SPEC)
            if np.abs(ours - served_feats).max() > 1e-5:
                raise SystemExit(f"the features read in float64 differ from float32's by {np.abs(ours - served_feats).max():.2e}")
            feats.append(ours)
    example = torch.from_numpy(np.stack(feats))
    module = Clipped().eval()
    torch.onnx.export(module, (example,), path, opset_version=17, input_names=["features"], output_names=["value"],
                      dynamic_axes={"features": {0: "batch"}, "value": {0: "batch"}})
    import onnx
    onnx.checker.check_model(onnx.load(path))
    print(json.dumps({"written": path, "inputWidth": int(example.shape[1]),
                      "torch": [round(float(v), 6) for v in meter.measure_features(example.numpy())[:4]]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fit", "check", "export"])
    parser.add_argument("--out", default=None, help="export: the ONNX file (default: models/brain-mri/contrast-meter.onnx)")
    parser.add_argument("--per-pathology", type=int, default=None, help="renders per pathology (fit 5000, check 300)")
    parser.add_argument("--epochs", type=int, default=None, help="fit: version 1 45, version 2 40")
    parser.add_argument("--weights", default=None, help="default: reports/contrast-meter.npz (version 1), contrast-meter-2.npz (2)")
    parser.add_argument("--version", type=int, choices=[1, 2], default=1)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    weights = args.weights or (WEIGHTS if args.version == 1 else WEIGHTS_2)
    if args.command == "export":
        export(args.out or os.path.join(os.path.dirname(TRAINING_DIR), "models", "brain-mri", METER_FILE), weights)
        return
    if args.command == "fit" and args.version == 1:
        fit(per_pathology=args.per_pathology or 5000, epochs=args.epochs or 45, weights=weights)
    elif args.command == "fit":
        fit_2(per_pathology=args.per_pathology or 8000, epochs=args.epochs or 40, weights=weights)
    meter = ContrastMeter(weights)
    n = args.per_pathology or 300 if args.command == "check" else 300
    tables = {"renders": validity(meter, n, augmented=False), "augmentedRenders": validity(meter, n, augmented=True)}
    print(json.dumps(tables, indent=1))
    worst = max(tables["renders"]["mae"], *(v["mae"] for v in tables["renders"]["byPathology"].values()))
    if worst > MAX_MAE:
        sys.exit(f"contrast meter MAE {worst} > {MAX_MAE}: not a valid judge")


if __name__ == "__main__":
    main()
