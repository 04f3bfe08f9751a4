"""How much of a small road hazard's class is in the pixels? python3 training/small_objects.py [--minutes 12]

road-critic 1.2.0 names the class of objects under 8 px far less often than of larger ones (training/README section
8), and the scenario library asks for many such objects (small-distant-hazards-sweep, tyre-debris-in-glare,
child-near-road-edge-dawn: median shorter side about 3 px on the 64-px frame). Two explanations call for different
work: the 64-px frame holds too little of a 3-px object to name it (then only a larger frame helps: a 128-px model),
or the critic does not read what is there (then its architecture or training does).

This script separates them. A location-aware reader, a small CNN that sees only the 16 x 16 pixels around the
requested box's centre (not the box's size or shape, so the shape cannot name the class), is trained for a few
minutes on renders of the generator's own mixture whose box is under 10 px on its shorter side. It and the domain
critic are then judged on the same exact renders of every automotive library scenario's own draws (seed 17, samples 0-167 of
each, as a run numbers them; the empty-road control left out), by the object's shorter side and by time of day. Whatever the reader names right, the
pixels hold: its accuracy is a floor on what a judge of the 64-px frame can reach, not a ceiling.

Writes training/reports/road-small-objects.json and .md.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import look  # noqa: E402   (the reader's architecture: the critic's look's, with six outputs)
from procedural import road  # noqa: E402
from rareforge_train import from_onnx, perception  # noqa: E402
from rareforge_train.domains import PACKAGES  # noqa: E402

REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")
CLASSES = road.HAZARDS[1:]
CROP = 16               # the reader's window, pixels of the 64-px frame
TRAIN_JOBS = [(100 + k, 2500) for k in range(16)]   # (seed, renders): 40 000 training crops
LIBRARY_SEED, PER_SCENARIO = look.LIBRARY_SEED, look.PER_SCENARIO   # seed 17, indices 0..167 of each scenario
SIZE_BINS = ((3, "< 3 px"), (5, "3-5 px"), (8, "5-8 px"), (16, "8-16 px"), (1e9, ">= 16 px"))


def crop(image, p):
    """The CROP x CROP window of image ([C, S, S]) centred on the request's box centre (edge-padded)."""
    size = image.shape[-1]
    x0 = int(round(p["hazardCx"] * size - CROP / 2))
    y0 = int(round(p["hazardCy"] * size - CROP / 2))
    padded = np.pad(image, ((0, 0), (CROP, CROP), (CROP, CROP)), mode="edge")
    return padded[:, y0 + CROP:y0 + 2 * CROP, x0 + CROP:x0 + 2 * CROP]


def shorter_side(p):
    return min(p["hazardW"], p["hazardH"]) * 64


def _to_uint8(x):
    return np.round(x * 255).astype(np.uint8)


def _training_crops(job):
    seed, count = job
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    while len(crops) < count:
        p = road.draw_condition(rng, shape="small")
        crops.append(_to_uint8(crop(road.render(p, rng), p)))
        labels.append(CLASSES.index(p["hazard"]))
    return np.stack(crops), np.array(labels)


WITHOUT = ("empty-road-control",)   # no object to name


def train_reader(crops, labels, minutes, log):
    torch.manual_seed(0)
    x_all = torch.from_numpy(crops).float() / 127.5 - 1
    y_all = torch.from_numpy(labels).long()
    net = look.reader(outputs=len(CLASSES), inputs=3)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    started, step, budget = time.time(), 0, minutes * 60
    while time.time() - started < budget:
        perm = torch.randperm(len(x_all), generator=gen)
        for i in range(0, len(x_all) - 255, 256):
            idx = perm[i:i + 256]
            x = x_all[idx].clone()
            flip = torch.rand(len(x), generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)
            noisy = (torch.rand(len(x), 1, 1, 1, generator=gen) < 0.5).float()
            x = x + 0.03 * noisy * torch.randn(x.shape, generator=gen)
            frac = min(1.0, (time.time() - started) / budget)
            for group in opt.param_groups:
                group["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * frac))
            loss = nn.functional.cross_entropy(net(x), y_all[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if time.time() - started >= budget:
                break
        log(f"reader: step {step}, loss {loss.item():.3f}")
    return net.eval(), step


def table(params, right):
    """Accuracy overall, per shorter-side bin and per time of day."""
    out = {"overall": {"n": len(right), "accuracy": round(float(np.mean(right)), 4)}, "bySize": {}, "byTimeOfDay": {}}
    for bound, label in SIZE_BINS:
        lower = max([b for b, _ in SIZE_BINS if b < bound], default=0)
        pick = [r for p, r in zip(params, right) if lower <= shorter_side(p) < bound]
        if pick:
            out["bySize"][label] = {"n": len(pick), "accuracy": round(float(np.mean(pick)), 4)}
    for tod in road.TIMES_OF_DAY:
        pick = [r for p, r in zip(params, right) if p["timeOfDay"] == tod]
        out["byTimeOfDay"][tod] = {"n": len(pick), "accuracy": round(float(np.mean(pick)), 4)}
    return out


def markdown(report):
    rows = [("critic", report["critic"]), ("reader", report["reader"])]
    lines = ["# Small road hazards: what the critic reads and what the pixels hold", "",
             f"Reproduce: `{report['command']}` ({report['wallTimeSeconds'] / 60:.0f} min on this machine)", "",
             f"Exact renders of the automotive library scenarios' own draws (seed {LIBRARY_SEED}, samples 0-{PER_SCENARIO - 1} "
             f"of each, {report['renders']} renders, the empty-road control left out). Hazard class named right by the domain critic "
             f"({report['criticName']}, the whole frame) and by a location-aware reader (the {CROP} x {CROP} pixels around "
             f"the requested box's centre; trained {report['readerSteps']} steps on {report['readerTrainingCrops']} "
             f"renders of the generator's mixture with boxes under {road.SMALL_SIDE * 64:g} px).", "",
             "| object's shorter side | n | " + " | ".join(name for name, _ in rows) + " |",
             "|---|---|" + "---|" * len(rows)]
    for label, cell in report["critic"]["bySize"].items():
        lines.append(f"| {label} | {cell['n']} | " + " | ".join(f"{r['bySize'][label]['accuracy'] * 100:.1f} %" for _, r in rows) + " |")
    for tod, cell in report["critic"]["byTimeOfDay"].items():
        lines.append(f"| {tod} | {cell['n']} | " + " | ".join(f"{r['byTimeOfDay'][tod]['accuracy'] * 100:.1f} %" for _, r in rows) + " |")
    lines.append(f"| all | {report['critic']['overall']['n']} | "
                 + " | ".join(f"{r['overall']['accuracy'] * 100:.1f} %" for _, r in rows) + " |")
    lines += ["", "Per scenario (hazard class named right):", "", "| scenario | n | critic | reader |", "|---|---|---|---|"]
    for name, cell in report["byScenario"].items():
        lines.append(f"| {name} | {cell['n']} | {cell['critic'] * 100:.1f} % | {cell['reader'] * 100:.1f} % |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=12, help="the reader's training budget")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [small objects] {msg}", flush=True)  # noqa: E731
    count = len(look.library_scenarios(WITHOUT))
    with Pool(args.threads) as pool:
        parts = pool.map(_training_crops, TRAIN_JOBS)
        judged = pool.map(partial(look.library_renders, without=WITHOUT), [range(0, count, 2), range(1, count, 2)])
    crops, labels = np.concatenate([c for c, _ in parts]), np.concatenate([y for _, y in parts])
    frames = np.concatenate([f for f, _, _ in judged])
    params = [p for _, ps, _ in judged for p in ps]
    names = [n for _, _, ns in judged for n in ns]
    log(f"{len(crops)} training crops, {len(frames)} library renders")
    net, steps = train_reader(crops, labels, args.minutes, log)
    _, domain = PACKAGES["road-critic"]
    with tempfile.TemporaryDirectory() as tmp:   # the shipped package's weights
        critic = from_onnx.checkpoint_from_package("road-critic", tmp).eval()
    with torch.no_grad():
        x = torch.from_numpy(frames).float() / 127.5 - 1
        read = perception.read_batched(critic, x).numpy()
        windows = torch.from_numpy(np.stack([crop(f, p) for f, p in zip(frames, params)])).float() / 127.5 - 1
        named = torch.cat([net(windows[i:i + 500]) for i in range(0, len(windows), 500)]).argmax(1).numpy()
    critic_right = [domain.layout.decode(v)["hazard"] == p["hazard"] for p, v in zip(params, read)]
    reader_right = [CLASSES[k] == p["hazard"] for p, k in zip(params, named)]
    by_scenario = {}
    for name, c, r in zip(names, critic_right, reader_right):
        by_scenario.setdefault(name, []).append((c, r))
    manifest = json.load(open(os.path.join(package_dir(), "critic.json")))
    report = {
        "command": "python3 training/small_objects.py" + (f" --minutes {args.minutes:g}" if args.minutes != 12 else ""),
        "criticName": f"road-critic {manifest['version']}",
        "renders": len(frames), "readerTrainingCrops": len(crops), "readerSteps": steps, "readerMinutes": args.minutes,
        "critic": table(params, critic_right), "reader": table(params, reader_right),
        "byScenario": {n: {"n": len(v), "critic": round(float(np.mean([c for c, _ in v])), 4),
                           "reader": round(float(np.mean([r for _, r in v])), 4)} for n, v in sorted(by_scenario.items())},
        "wallTimeSeconds": round(time.time() - started, 1),
    }
    os.makedirs(REPORTS, exist_ok=True)
    json.dump(report, open(os.path.join(REPORTS, "road-small-objects.json"), "w"), indent=1)
    open(os.path.join(REPORTS, "road-small-objects.md"), "w").write(markdown(report))
    print(markdown(report))


def package_dir():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "road-critic")


if __name__ == "__main__":
    main()
