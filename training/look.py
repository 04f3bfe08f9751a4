"""The road critic's look: what is at the place the object was asked to be? python3 training/look.py [--minutes 30]

road-critic names the hazard class from the whole 64-px frame and reads small objects poorly (89.5 % on the scenario
library's own draws; under 3 px 80.3 %), while a reader that sees only the 16 x 16 pixels around the requested box's
centre names 96.5 % of the same renders (training/small_objects.py). The realism gate always knows where the object was
asked to be, so the critic package carries such a reader: look.onnx. It sees the WINDOW x WINDOW window of the critic's
input centred on the requested centre (edge-padded; x0 = floor(cx * 64 - WINDOW / 2 + 0.5), the same in src/detection/
critic.ts) and, as further channels, the CONTEXT x CONTEXT window on the same centre average-pooled to WINDOW x WINDOW
(a large object's whole, where the window holds only its middle); never the box's size or shape. It names what is at
the centre: one of the hazard field's values, "none" meaning nothing here. Where an object was requested, the gate
reads the class from the critic's and the look's distributions combined, p ~ critic^(1 - w) * look^w (critic.json
`look`): the look names small objects better, the whole frame large ones, so w is chosen per band of the requested
box's longer side (SIZE_BANDS; the size picks whose reading counts, never which class), on the critic's early-stopping
renders (seed 3), not on the renders reported; there too the choice whether the gate reads the look mirrored as well
(the mean of its reading of the input and of the input mirrored left to right; it is trained on randomly mirrored
windows).

Training: renders of the generator's mixture (every box shape kind, mismatched included) and of small objects, with the
critic's sample-like augmentation (blur, noise, colour drift, blotches, blockiness, the diffusion models' speckle)
applied to the whole frame before the window is cut (to CLEAN_SHARE of them only slight noise: the speckle and blur
erase what tells a 2-px object's class, which exact renders keep); the window is centred on the object (jittered by
up to a pixel) or, for a quarter of the batch, on a place whose window holds no part of the object (label none; its
context may hold it: the look names what is at the centre). Objects whose longer side is under 8 px are drawn
SMALL_WEIGHT times as often. Trained in stages: the one-scale look (window only, 55 min: training/resume/road-look),
the two-scale look started from it with the context's weights zero (40 min, CLEAN_SHARE 0.3, small objects 3x, LR 2e-3:
training/resume/road-look-context), and this stage started from that (WARM_START: half the frames clean, small objects
4x, LR 1e-3). Resumable: training/checkpoints/road-look-clean/last.pt.

Judged on held-out renders (evaluate.py's seed 2: the mixture, and every box of another class's shape) and on the
library scenarios' own draws (seed 17, samples 0-167 of each), against the critic alone; writes
training/reports/road-critic-look.json and .md, and with --apply the package's look.onnx, its golden fixture and
critic.json's `look` (the gate must then be calibrated again: training/gate_calibration.py road-critic --apply).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from procedural import road  # noqa: E402
from rareforge_train import from_onnx, library, package, perception  # noqa: E402
from rareforge_train.domains import EVAL_SEED, PACKAGES  # noqa: E402

TRAINING = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TRAINING)
REPORTS = os.path.join(TRAINING, "reports")
DATA = os.path.join(TRAINING, "data", "road-look-frames.npz")
CHECKPOINTS = os.path.join(TRAINING, "checkpoints", "road-look-clean")
# where this stage starts: the two-scale look after 40 min (training/resume/road-look-context, itself started from the
# one-scale look, training/resume/road-look, its context's channels zero: warm_state)
WARM_START = os.path.join(TRAINING, "resume", "road-look-context", "last.pt")
PACKAGE = os.path.join(REPO, "models", "road-critic")
FIXTURE = os.path.join(REPO, "test", "fixtures", "road-critic", "look")
VALUES = road.HAZARDS              # the hazard field's values; "none" = nothing at this place
BOX = ("hazardCx", "hazardCy", "hazardW", "hazardH")
WINDOW = 16
CONTEXT = 32                       # a second window on the same centre, average-pooled to WINDOW x WINDOW
FRAME = 64
# (seed, renders, shape): the generator's mixture, and small objects (where the whole-frame critic is weakest)
JOBS = [(200 + k, 3000, None) for k in range(16)] + [(300 + k, 2000, "small") for k in range(8)]
NOTHING_SHARE = 0.25               # windows that hold no part of the object
CLEAN_SHARE = 0.5                  # frames given only slight noise instead of the sample-like augmentation
SMALL_WEIGHT = 4.0                 # how much more often objects whose longer side is under 8 px are drawn
BATCH, LR = 256, 1e-3
LIBRARY_SEED, PER_SCENARIO = 17, 168


def window_origin(c):
    """The window's top-left pixel for a centre c (fraction of the frame): floor(c * 64 - WINDOW / 2 + 0.5)."""
    return np.floor(np.asarray(c, np.float64) * FRAME - WINDOW / 2 + 0.5).astype(np.int64)


def windows(x, x0, y0, size=WINDOW):
    """x: [B, C, 64, 64]; x0, y0: int arrays [B] (may fall outside the frame: edge-padded). -> [B, C, size, size]."""
    padded = F.pad(x, (size, size, size, size), mode="replicate")
    ar = torch.arange(size)
    rows = (torch.as_tensor(y0) + size)[:, None] + ar[None]            # [B, size]
    cols = (torch.as_tensor(x0) + size)[:, None] + ar[None]
    b = torch.arange(len(x))[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def look_input(x, x0, y0):
    """What the look sees for windows at origins x0, y0: the WINDOW x WINDOW window, and after its channels the
    CONTEXT x CONTEXT window on the same centre (origin x0 - (CONTEXT - WINDOW) / 2) average-pooled to WINDOW x WINDOW
    (src/detection/critic.ts lookInput). -> [B, 2C, W, W]."""
    half = (CONTEXT - WINDOW) // 2
    wide = windows(x, np.asarray(x0) - half, np.asarray(y0) - half, CONTEXT)
    return torch.cat([windows(x, x0, y0), F.avg_pool2d(wide, CONTEXT // WINDOW)], 1)


def reader(fused=False, outputs=len(VALUES), inputs=6):
    """The look: eight 3x3 convolutions (48, 96, 192 channels) over the window and its pooled context (inputs
    channels), pooled, one logit per value (outputs; training/small_objects.py's reader names the six classes only
    from the window alone: inputs=3). Trained with batch normalisation; fused=True is
    the shipped form, each normalisation folded into its convolution (what look.onnx holds, and what
    from_onnx.recover can read back)."""
    def block(cin, cout):
        if fused:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.SiLU())
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.SiLU())
    return nn.Sequential(block(inputs, 48), block(48, 48), nn.MaxPool2d(2), block(48, 96), block(96, 96), nn.MaxPool2d(2),
                         block(96, 192), block(192, 192), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(192, outputs))


@torch.no_grad()
def fuse(net):
    """The trained look (eval mode) with each batch normalisation folded into the convolution before it."""
    out = reader(fused=True).eval()
    for trained, shipped in zip(net, out):
        if isinstance(trained, nn.Sequential):
            conv, bn = trained[0], trained[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shipped[0].weight.copy_(conv.weight * scale[:, None, None, None])
            shipped[0].bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
        elif isinstance(trained, nn.Linear):
            shipped.load_state_dict(trained.state_dict())
    return out


def _render_job(job):
    seed, count, shape = job
    rng = np.random.default_rng(seed)
    frames, boxes, labels = np.zeros((count, 3, FRAME, FRAME), np.uint8), np.zeros((count, 4), np.float32), []
    for i in range(count):
        p = road.draw_condition(rng, shape=shape)
        frames[i] = np.round(road.render(p, rng) * 255)
        boxes[i] = [p["hazardCx"], p["hazardCy"], p["hazardW"], p["hazardH"]]
        labels.append(VALUES.index(p["hazard"]))
    return frames, boxes, np.array(labels)


def training_frames(threads, log):
    if os.path.exists(DATA):
        d = np.load(DATA)
        return d["frames"], d["boxes"], d["labels"]
    started = time.time()
    with Pool(threads) as pool:
        parts = pool.map(_render_job, JOBS)
    frames, boxes, labels = (np.concatenate([p[k] for p in parts]) for k in range(3))
    os.makedirs(os.path.dirname(DATA), exist_ok=True)
    np.savez(DATA, frames=frames, boxes=boxes, labels=labels)
    log(f"rendered {len(frames)} training frames in {time.time() - started:.0f} s")
    return frames, boxes, labels


def nothing_origins(boxes, rng):
    """Window origins whose window holds no part of each box (drawn uniformly over the frame, rejected when they
    overlap the box grown by a pixel)."""
    out = np.zeros((len(boxes), 2), np.int64)
    for i, (cx, cy, w, h) in enumerate(boxes):
        bx0, bx1 = (cx - w / 2) * FRAME - 1, (cx + w / 2) * FRAME + 1
        by0, by1 = (cy - h / 2) * FRAME - 1, (cy + h / 2) * FRAME + 1
        while True:
            x0, y0 = rng.integers(-WINDOW // 2, FRAME - WINDOW // 2, size=2)
            if x0 + WINDOW <= bx0 or x0 >= bx1 or y0 + WINDOW <= by0 or y0 >= by1:
                out[i] = (x0, y0)
                break
    return out


def batch_windows(frames, boxes, labels, idx, gen, rng):
    """One training batch: the augmented frames' windows and their labels."""
    exact = torch.from_numpy(frames[idx]).float() / 127.5 - 1
    clean = torch.rand(len(idx), 1, 1, 1, generator=gen) < CLEAN_SHARE
    slight = exact + torch.randn(exact.shape, generator=gen) * torch.rand(len(idx), 1, 1, 1, generator=gen) * 0.03
    x = torch.where(clean, slight, perception.augment_like_samples(exact, gen))
    b = boxes[idx]
    y = labels[idx].copy()
    x0, y0 = window_origin(b[:, 0]), window_origin(b[:, 1])
    jitter = rng.integers(-1, 2, size=(len(idx), 2))
    x0, y0 = x0 + jitter[:, 0], y0 + jitter[:, 1]
    # a none frame's drawn box has nothing in it: its window is "nothing" as is; others move off the object
    away = (rng.random(len(idx)) < NOTHING_SHARE) & (y != 0)
    if away.any():
        o = nothing_origins(b[away], rng)
        x0[away], y0[away] = o[:, 0], o[:, 1]
        y[away] = 0
    x = look_input(x, x0, y0)
    flip = rng.random(len(idx)) < 0.5
    x[flip] = x[flip].flip(-1)
    return x, torch.from_numpy(y).long()


def warm_state(one_scale, net):
    """An earlier look's weights for this one: a one-scale look's first convolution gets zero weights for the context's
    channels; a two-scale look's are taken as they are."""
    state = dict(one_scale)
    first = state["0.0.weight"]
    if first.shape[1] * 2 == net.state_dict()["0.0.weight"].shape[1]:
        state["0.0.weight"] = torch.cat([first, torch.zeros_like(first)], 1)
    assert state["0.0.weight"].shape == net.state_dict()["0.0.weight"].shape
    return state


def train(frames, boxes, labels, minutes, log):
    os.makedirs(CHECKPOINTS, exist_ok=True)
    last = os.path.join(CHECKPOINTS, "last.pt")
    net = reader()
    opt = torch.optim.AdamW(net.parameters(), LR, weight_decay=1e-4)
    step, elapsed = 0, 0.0
    if os.path.exists(last):
        state = torch.load(last)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        log(f"resumed at step {step} ({elapsed / 60:.1f} of {minutes:g} min)")
    elif os.path.exists(WARM_START):
        net.load_state_dict(warm_state(torch.load(WARM_START)["model"], net))
        log(f"started from {WARM_START}")
    budget = minutes * 60
    torch.manual_seed(1000 + step)
    gen = torch.Generator().manual_seed(2000 + step)
    rng = np.random.default_rng(3000 + step)
    # small objects (longer side under 8 px) drawn SMALL_WEIGHT times as often (the look errs most on them)
    weights = np.where(np.maximum(boxes[:, 2], boxes[:, 3]) * FRAME < 8, SMALL_WEIGHT, 1.0)
    weights /= weights.sum()
    net.train()
    mark, saved = time.time(), time.time()
    while elapsed < budget:
        frac = min(1.0, elapsed / budget)
        for group in opt.param_groups:
            group["lr"] = LR * 0.5 * (1 + np.cos(np.pi * frac))
        idx = rng.choice(len(frames), BATCH, p=weights)
        x, y = batch_windows(frames, boxes, labels, idx, gen, rng)
        loss = F.cross_entropy(net(x), y, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        now = time.time()
        elapsed += now - mark
        mark = now
        if step % 200 == 0:
            log(f"step {step}, {elapsed / 60:.1f} min, loss {loss.item():.3f}")
        if now - saved > 120 or elapsed >= budget:
            torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, last)
            saved = now
    return net.eval(), step, elapsed


# ---- judging ----

def library_scenarios(without=()):
    return [s for s in library.scenarios("automotive") if s["name"] not in without]


def library_renders(ks, without=()):
    """Exact renders of the automotive library scenarios' own draws (those not named in without): samples
    0..PER_SCENARIO-1 of each k-th scenario, as a run numbers them (its sweeps cycle through their values), each
    rendered from np.random.default_rng([LIBRARY_SEED, k, i]). Also training/small_objects.py's."""
    frames, params, names = [], [], []
    specs = library_scenarios(without)
    for k in ks:
        spec = specs[k]
        for i in range(PER_SCENARIO):
            p = library.to_condition(library.draw_parameters(spec, LIBRARY_SEED, i))
            frames.append(np.round(road.render(p, np.random.default_rng([LIBRARY_SEED, k, i])) * 255).astype(np.uint8))
            params.append(p)
            names.append(spec["name"])
    return np.stack(frames), params, names


@torch.no_grad()
def distributions(net, at, mirror=False, batch=500):
    """The look's distribution for each input at ([N, 2C, W, W]); mirror: the mean of its reading of the input and of
    the input mirrored left to right (critic.json look.mirror; src/detection/critic.ts mirrorLookInput). -> torch."""
    def run(v):
        return torch.cat([net(v[i:i + batch]).softmax(1) for i in range(0, len(v), batch)])
    p = run(at)
    return (p + run(at.flip(-1))) / 2 if mirror else p


def reading_at(net, x, x0, y0, mirror=False, shifts=((0, 0),)):
    """The look's distribution for the windows at origins x0, y0: the mean of its readings of the window moved by
    each of shifts (pixels; critic.json look.shifts), each read mirrored too where mirror is. -> torch."""
    return sum(distributions(net, look_input(x, x0 + dx, y0 + dy), mirror) for dx, dy in shifts) / len(shifts)


@torch.no_grad()
def probabilities_at(net, x, places, mirror=False, shifts=((0, 0),)):
    """The look's distribution at each place's centre (x model space [N, C, 64, 64]; places dicts with hazardCx and
    hazardCy, whose size is never read): the mean of its readings of the window moved by each of shifts (pixels;
    critic.json look.shifts), each read mirrored too where mirror is. -> torch [N, len(VALUES)]."""
    return reading_at(net, x, window_origin([p["hazardCx"] for p in places]), window_origin([p["hazardCy"] for p in places]),
                      mirror, shifts)


def logits_at(net, x, places, mirror=False, shifts=((0, 0),)):
    """probabilities_at as log-probabilities (their softmax is the distribution), what the gate's reports keep."""
    return probabilities_at(net, x, places, mirror, shifts).clamp_min(1e-30).log()


def critic_boxes(vectors):
    """The box the whole-frame critic sees in each of its output vectors ([N, width]), as a place."""
    layout = PACKAGES["road-critic"][1].layout
    return [{name: float(v[layout.field(name)["offset"]]) for name in BOX} for v in vectors]


@torch.no_grad()
def read(net, critic, frames, params, how):
    """Per frame, the look read as how says (mirror, shifts): the critic's hazard distribution ("whole"), the look's
    at the requested centre ("look"), at a place with nothing ("empty"; meaningful for object frames only), and at
    the centre of the box the critic sees ("atCritic", with that box: "criticBox")."""
    x = torch.from_numpy(frames).float() / 127.5 - 1
    field = PACKAGES["road-critic"][1].layout.field("hazard")
    sl = slice(field["offset"], field["offset"] + field["width"])
    vectors = perception.read_batched(critic, x)
    whole = vectors[:, sl].softmax(1).numpy()
    at = lambda places: probabilities_at(net, x, places, how["mirror"], how["shifts"]).numpy()  # noqa: E731
    boxes = np.array([[p[k] for k in BOX] for p in params])
    o = nothing_origins(boxes, np.random.default_rng(EVAL_SEED))
    empty = reading_at(net, x, o[:, 0], o[:, 1], how["mirror"], how["shifts"])
    seen = critic_boxes(vectors.numpy())
    return {"whole": whole, "look": at(params), "empty": empty.numpy(), "atCritic": at(seen), "criticBox": seen}


WEIGHTS = [round(w, 2) for w in np.linspace(0, 1, 11)]
WEIGHT_SEED, WEIGHT_SET = 3, 1500   # the critic's own early-stopping renders: the weight is not chosen on seed 2
# the look's weight is chosen per band of the requested box's longer side (fraction of the frame: 8 and 16 px): the
# look names small objects better, the whole frame large ones, whose middle is all the look's window holds
SIZE_BANDS = [0.125, 0.25]


def weights_for(params, weight):
    """The look's weight for each request: weight {"weight": w, "bySize": [{"below": b, "weight": w_b}, ...]}
    (critic.json `look`), the first band the requested box's longer side is under, else w (src/detection/critic.ts
    lookWeight). -> [N]."""
    bands = weight.get("bySize", [])
    values = np.array([b["weight"] for b in bands] + [weight["weight"]], np.float64)
    return values[size_band(params, [b["below"] for b in bands])]


def combine(whole, look, weight):
    """The gate's reading of the class where an object was requested: the critic's and the look's distributions
    mixed geometrically, p ~ whole^(1 - weight) * look^weight (src/detection/critic.ts combineLook); weight a number
    or one per row."""
    weight = np.asarray(weight, np.float64).reshape(-1, 1)
    mixed = np.exp((1 - weight) * np.log(np.maximum(whole, 1e-12)) + weight * np.log(np.maximum(look, 1e-12)))
    return mixed / mixed.sum(1, keepdims=True)


def gate_reading(params, r, how):
    """The class the gate reads per request (how: critic.json look's weight, bySize, confirm): critic and look
    combined at the requested place where an object was requested; where none was, the critic, and with confirm,
    where the critic names an object, critic and look combined at the critic's own box (the box's size picks the
    weight). r: read()'s. -> (truth, reading)."""
    truth = np.array([VALUES.index(p["hazard"]) for p in params])
    whole = r["whole"].argmax(1)
    out = np.where(truth != 0, combine(r["whole"], r["look"], weights_for(params, how)).argmax(1), whole)
    if how.get("confirm"):
        out = np.where((truth == 0) & (whole != 0), at_critics_box(r, how), out)
    return truth, out


def at_critics_box(r, how):
    """Per frame: the class critic and look read at the box the critic sees (its size picks the weight)."""
    return combine(r["whole"], r["atCritic"], weights_for(r["criticBox"], how)).argmax(1)


def names_an_object(r, how):
    """Per frame: whether the gate, asked for no object, reads one (the critic names one and, with confirm, the
    look at the critic's box agrees)."""
    whole = r["whole"].argmax(1) != 0
    return whole & (at_critics_box(r, how) != 0) if how.get("confirm") else whole


def size_band(params, edges=SIZE_BANDS):
    """Each request's band: the index of the first of edges (increasing) its box's longer side is under, len(edges)
    past every one."""
    return np.searchsorted(edges, [max(p["hazardW"], p["hazardH"]) for p in params], side="right")


# how the look may be read: as it is, mirrored too, and mirrored at the window and the window moved one pixel each way
# (the mean of the readings; small objects sit a pixel off the window's centre as often as on it)
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
READINGS = {"plain": (False, [(0, 0)]), "mirrored": (True, [(0, 0)]), "mirrored, shifted": (True, SHIFTS)}


def choose_weight(net, critic, domain):
    """On the critic's early-stopping renders: how the look is read (READINGS: the one that reads the most right,
    ties the simpler), per band of the requested box's longer side the look's weight that reads the most right
    (ties: the larger weight), and whether a request for no object is confirmed at the box the critic sees (when that
    names more of them right). Reading right counts twice per object: its class named at its place, and none named
    at a place away from it, with the same box (the gate's reading must refuse an object drawn elsewhere: the whole
    frame sees it wherever it is, so its share lets a moved object pass). -> (critic.json look's weight, bySize,
    mirror, shifts and confirm; per reading and band, every weight's share read right, and the none requests named
    right with and without confirming)."""
    imgs, ps = domain.dataset(WEIGHT_SET, WEIGHT_SEED)
    truth = np.array([VALUES.index(p["hazard"]) for p in ps])
    band = size_band(ps)
    labels = [f"< {b * FRAME:g} px" for b in SIZE_BANDS] + [f">= {SIZE_BANDS[-1] * FRAME:g} px"]
    options, reads = {}, {}
    for name, (mirror, shifts) in READINGS.items():
        reads[name] = r = read(net, critic, imgs, ps, {"mirror": mirror, "shifts": shifts})
        chosen, scores, right = [], {}, 0
        for k, label in enumerate(labels):
            m = (band == k) & (truth != 0)
            hits = {w: int(np.sum(combine(r["whole"][m], r["look"][m], w).argmax(1) == truth[m]))
                    + int(np.sum(combine(r["whole"][m], r["empty"][m], w).argmax(1) == 0)) for w in WEIGHTS}
            best = max(WEIGHTS, key=lambda w: (hits[w], w))
            scores[label] = {**{w: round(h / max(2 * int(m.sum()), 1), 4) for w, h in hits.items()}, "n": int(m.sum())}
            chosen.append(best)
            right += hits[best]
        options[name] = ({"weight": chosen[-1], "bySize": [{"below": b, "weight": w} for b, w in zip(SIZE_BANDS, chosen)],
                          "mirror": mirror, "shifts": [list(d) for d in shifts]}, scores, right)
    name = max(READINGS, key=lambda n: (options[n][2], -list(READINGS).index(n)))
    how = options[name][0]
    none_right = {c: int(np.sum(gate_reading(ps, reads[name], {**how, "confirm": c})[1][truth == 0] == 0)) for c in (False, True)}
    how["confirm"] = none_right[True] > none_right[False]
    return how, {**{n: {"readRight": o[2], **o[1]} for n, o in options.items()},
                 "noneRight": {"n": int(np.sum(truth == 0)), "asIs": none_right[False], "confirmed": none_right[True]}}


FAINT = 0.05   # gate_calibration.py's: an object that changes no pixel of its render by this much is faint


def held_out_visibility(domain, images, seed, shape=None):
    """How visible each object of domain.dataset(len(images), seed, shape) is (road.visibility: the largest pixel
    change the object makes, None where none was drawn), replaying the dataset's draws: each render again, and the
    same render without the object from the same random state."""
    rng, out = np.random.default_rng(seed), []
    for i in range(len(images)):
        p = domain.draw(rng, shape=shape)
        state = rng.bit_generator.state
        full = domain.render(p, rng)
        assert np.array_equal(np.round(full * 255).astype(np.uint8), images[i]), "the replay drew another dataset"
        if p["hazard"] == "none":
            out.append(None)
            continue
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        out.append(float(np.abs(full - road.render(p, replay, hide_object=True)).max()))
    return out


def figures(params, r, how, visible=None):
    """Hazard named right by the critic alone, the look alone, and the gate's reading (gate_reading), per class and
    by the object's shorter side; how often the look calls an empty place empty: a place away from the object, and
    (renders of no object) the place their condition's box names: a look that read the class from where the window
    is, not from what is in it, would name one there; and on object frames, how often the gate asked for no object
    would still read one (the critic alone, and as the gate reads it: with confirm, the look at the critic's box must
    agree; a confirmation that hid drawn objects would lower it). r: read()'s."""
    whole, look, empty = r["whole"], r["look"], r["empty"]
    truth, gate_read = gate_reading(params, r, how)
    obj = truth != 0
    side = np.array([min(p["hazardW"], p["hazardH"]) * FRAME for p in params])
    out = {"n": int(len(truth)), "critic": round(float(np.mean(whole.argmax(1) == truth)), 4),
           "lookAlone": round(float(np.mean(np.where(obj, look.argmax(1), whole.argmax(1)) == truth)), 4),
           "withLook": round(float(np.mean(gate_read == truth)), 4),
           "emptyPlaceReadEmpty": round(float(np.mean(empty[obj].argmax(1) == 0)), 4) if obj.any() else None,
           "noObjectAtItsBoxReadEmpty": round(float(np.mean(look[~obj].argmax(1) == 0)), 4) if (~obj).any() else None,
           "objectSeenWhenNoneAsked": {"critic": round(float(np.mean(whole[obj].argmax(1) != 0)), 4),
                                       "gate": round(float(np.mean(names_an_object(r, how)[obj])), 4)} if obj.any() else None,
           "byClass": {}, "bySize": {}}
    for k, v in enumerate(VALUES):
        m = truth == k
        if m.any():
            out["byClass"][v] = {"n": int(m.sum()), "critic": round(float(np.mean(whole[m].argmax(1) == k)), 4),
                                 "withLook": round(float(np.mean(gate_read[m] == k)), 4)}
    if visible is not None:
        faint = np.array([v is not None and v < FAINT for v in visible])
        out["byVisibility"] = {}
        for label, m in ((f"faint (< {FAINT})", obj & faint), ("visible", obj & ~faint)):
            if m.any():
                out["byVisibility"][label] = {"n": int(m.sum()), "critic": round(float(np.mean(whole[m].argmax(1) == truth[m])), 4),
                                              "withLook": round(float(np.mean(gate_read[m] == truth[m])), 4)}
    for lo, hi, label in ((0, 3, "< 3 px"), (3, 5, "3-5 px"), (5, 8, "5-8 px"), (8, 16, "8-16 px"), (16, 1e9, ">= 16 px")):
        m = obj & (side >= lo) & (side < hi)
        if m.any():
            out["bySize"][label] = {"n": int(m.sum()), "critic": round(float(np.mean(whole[m].argmax(1) == truth[m])), 4),
                                    "withLook": round(float(np.mean(gate_read[m] == truth[m])), 4)}
    return out


def markdown(report):
    how = report["weight"]
    scores = report["weightScores"]
    reading = next(n for n, (m, sh) in READINGS.items() if m == how["mirror"] and [list(d) for d in sh] == how["shifts"])
    none = scores["noneRight"]
    lines = ["# road-critic's look: the hazard at the requested place", "",
             f"Reproduce: `{report['command']}` (training {report['minutes']:g} min, {report['steps']} steps of {BATCH}; "
             f"this run {report['wallTimeSeconds'] / 60:.0f} min on this machine, rendering and judging)", "",
             "Hazard class named right by the critic alone (the whole frame), by the look alone (its "
             f"{WINDOW} x {WINDOW} window at the requested centre) and by the gate's reading: where an object was asked "
             "for, critic and look combined, p ~ critic^(1 - w) x look^w, the look's weight w chosen per band of the "
             f"requested box's longer side on the critic's early-stopping renders (seed {WEIGHT_SEED}), and the look read "
             "as it is, mirrored too, or mirrored and at its window moved one pixel each way (the mean of the readings), "
             "whichever read the most right there: each object's class at its place, and none at a place away from it "
             "with the same box (the whole frame sees an object wherever it is: its share lets an object drawn elsewhere "
             f"pass); chosen: **{reading}**, w = "
             f"{', '.join(str(b['weight']) for b in how['bySize'])}, {how['weight']} past the last band. Where none was asked "
             "for, the critic" + (", and where it names an object anyway, critic and look combined at the critic's own "
             "box (confirmed: " if how["confirm"] else " (confirming its object with the look at its box: ")
             + f"{none['confirmed']} of {none['n']} none requests right on seed {WEIGHT_SEED}, {none['asIs']} without). "
             "Every weight per band and reading (share of objects and empty places read right): " + "; ".join(f"{name}: " + ", ".join(f"{label} (n {s['n']}) " + ", ".join(f"{float(k):g} → {v * 100:.1f} %" for k, v in s.items() if k != "n")
                                               for label, s in sc.items() if label != "readRight")
                                + f" ({sc['readRight']} read right)" for name, sc in scores.items() if name in READINGS)
             + ". Exact renders. \"Empty place\": the look, moved to a place whose window holds no part of the object, "
             "names none; \"no object\": renders of an empty road, the look at the place their condition's box names "
             "(a look that read the class from where its window is would name one there); \"object seen, none asked\": "
             "renders of an object judged as a request for no object, how often the critic names one, and the gate "
             "(a confirmation that hid drawn objects would lower it). Held-out objects are also "
             f"split by how visible they are: faint ones change no pixel of their render by {FAINT} or more "
             "(training/gate_calibration.py's split; an unlit pedestrian far off in fog at night).", "",
             "| set | n | critic | look alone | gate's reading | empty place read empty | no object, read empty | object seen, none asked: critic / gate |",
             "|---|---|---|---|---|---|---|---|"]
    pct = lambda v: "—" if v is None else f"{v * 100:.1f} %"  # noqa: E731
    for name, f in report["sets"].items():
        seen = f.get("objectSeenWhenNoneAsked")
        lines.append(f"| {name} | {f['n']} | {pct(f['critic'])} | {pct(f['lookAlone'])} | {pct(f['withLook'])} | "
                     f"{pct(f['emptyPlaceReadEmpty'])} | {pct(f['noObjectAtItsBoxReadEmpty'])} | "
                     + (f"{pct(seen['critic'])} / {pct(seen['gate'])} |" if seen else "— |"))
    for name, f in report["sets"].items():
        lines += ["", f"{name}, per class and by the object's shorter side:", "", "| | n | critic | gate's reading |",
                  "|---|---|---|---|"]
        for k, c in list(f["byClass"].items()) + list(f["bySize"].items()) + list(f.get("byVisibility", {}).items()):
            lines.append(f"| {k} | {c['n']} | {c['critic'] * 100:.1f} % | {c['withLook'] * 100:.1f} % |")
    return "\n".join(lines) + "\n"


def export(net, weight, report):
    """look.onnx into the package, its golden fixture, and critic.json's files and look."""
    path = os.path.join(PACKAGE, "look.onnx")
    net = fuse(net.eval())
    example = torch.zeros(1, 6, WINDOW, WINDOW)
    torch.onnx.export(net, (example,), path, opset_version=package.OPSET, input_names=["window"], output_names=["logits"],
                      dynamic_axes={"window": {0: "batch"}, "logits": {0: "batch"}})
    manifest_path = os.path.join(PACKAGE, "critic.json")
    manifest = json.load(open(manifest_path))
    manifest["files"] = {**manifest["files"], "look.onnx": package.sha256(path)}
    manifest["look"] = {
        "file": "look.onnx", "field": "hazard", "window": WINDOW, "context": CONTEXT, "input": "window", "output": "logits",
        "values": VALUES, "nothing": "none", "weight": weight["weight"], "bySize": weight["bySize"], "mirror": weight["mirror"],
        "shifts": weight["shifts"], "confirm": weight["confirm"],
        "origin": "floor(c * input size - window / 2 + 0.5), c the requested centre's fraction; edge-padded; the "
                  "context window's origin (context - window) / 2 before it, average-pooled to window x window and "
                  "appended after the window's channels",
        "description": "Names what is in the window of the critic's input centred on the requested object's centre "
                       "(never its size); where an object was requested the gate reads the class from the critic's and "
                       "the look's distributions, p ~ critic^(1 - w) * look^w, w the first bySize band the requested "
                       "box's longer side (fraction of the input) is under, else weight; the look's distribution is the "
                       "mean of its readings of the window moved by each of shifts (pixels), each also mirrored where "
                       "mirror is. With confirm, where no object was requested but the critic names one, the gate reads "
                       "the class the same way at the critic's own box (that box's size picks w)."}
    manifest.pop("gate", None)   # calibrated without the look: gate_calibration.py road-critic --apply
    manifest.setdefault("evaluation", {})["look"] = {
        "report": "training/reports/road-critic-look.json", "weight": weight,
        "hazardAccuracy": {name: {"critic": f["critic"], "lookAlone": f["lookAlone"], "gateReading": f["withLook"],
                                  "emptyPlaceReadEmpty": f["emptyPlaceReadEmpty"]} for name, f in report["sets"].items()}}
    json.dump(manifest, open(manifest_path, "w"), indent=2)
    # golden fixture: one render of the evaluation seed, the look's input at the requested centre moved by each shift,
    # and its logits for each (and for each mirrored, where the gate reads it mirrored too)
    rng = np.random.default_rng(EVAL_SEED)
    p = road.draw_condition(rng, hazard="cyclist", shape="small")
    frame = torch.from_numpy(np.round(road.render(p, rng) * 255)[None]).float() / 127.5 - 1
    x0, y0 = window_origin([p["hazardCx"]]), window_origin([p["hazardCy"]])
    w = torch.cat([look_input(frame, x0 + dx, y0 + dy) for dx, dy in weight["shifts"]])
    with torch.no_grad():
        y, y_mirrored = net(w), net(w.flip(-1))
    os.makedirs(FIXTURE, exist_ok=True)
    package.write_f32(os.path.join(FIXTURE, "frame.f32"), frame)
    package.write_f32(os.path.join(FIXTURE, "input.f32"), w)
    package.write_f32(os.path.join(FIXTURE, "output.f32"), y)
    golden = {"model": "road-critic/look", "params": p, "shifts": weight["shifts"],
              "frame": {"file": "frame.f32", "shape": list(frame.shape)},
              "input": {"name": "window", "file": "input.f32", "shape": list(w.shape)},
              "output": {"name": "logits", "file": "output.f32", "shape": list(y.shape)}}
    mirrored_path = os.path.join(FIXTURE, "mirrored-output.f32")
    if weight["mirror"]:   # the look's logits for the inputs mirrored left to right
        package.write_f32(mirrored_path, y_mirrored)
        golden["mirroredOutput"] = {"name": "logits", "file": "mirrored-output.f32", "shape": list(y_mirrored.shape)}
    elif os.path.exists(mirrored_path):
        os.remove(mirrored_path)
    json.dump(golden, open(os.path.join(FIXTURE, "golden.json"), "w"), indent=2)


def load_look(path=None):
    """The shipped look.onnx's weights as a torch module (from_onnx's recovery), for calibration and evaluation."""
    path = path or os.path.join(PACKAGE, "look.onnx")
    net = reader(fused=True)
    from_onnx.recover(net, path, torch.zeros(1, 6, WINDOW, WINDOW), ["window"], ["logits"],
                      {"window": {0: "batch"}, "logits": {0: "batch"}}, opset=package.OPSET)
    return net.eval()


class Shipped:
    """A critic package's look as the realism gate applies it: its shipped weights and how it is read (critic.json
    look's weight, bySize, mirror, shifts and confirm)."""

    def __init__(self, net, how):
        self.net, self.weight = net, how

    def places(self, requests, seen):
        """Where the gate reads the look for each request: its box where it asks for an object; where it asks for
        none, with confirm, the box the critic sees (seen: the critic's decoded values) where the critic names an
        object; else None."""
        if not self.weight["confirm"]:
            return [p if p["hazard"] != "none" else None for p in requests]
        return [p if p["hazard"] != "none" else (s if s["hazard"] != "none" else None) for p, s in zip(requests, seen)]

    def logits_at(self, x, places):
        return logits_at(self.net, x, places, self.weight["mirror"], self.weight["shifts"]).numpy()

    def probabilities_at(self, x, places):
        return probabilities_at(self.net, x, places, self.weight["mirror"], self.weight["shifts"]).numpy()

    def combine(self, whole, look, places):
        """The class reading at places (their box's longer side picks the weight)."""
        return combine(whole, look, weights_for(places, self.weight))


def shipped(name):
    """models/<name>'s look (critic.json `look`), or None when the package has none."""
    manifest = json.load(open(os.path.join(package.MODELS_DIR, name, "critic.json")))
    if "look" not in manifest:
        return None
    look = manifest["look"]
    return Shipped(load_look(os.path.join(package.MODELS_DIR, name, look["file"])),
                   {"weight": look["weight"], "bySize": look.get("bySize", []), "mirror": look.get("mirror", False),
                    "shifts": look.get("shifts", [[0, 0]]), "confirm": look.get("confirm", False)})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30, help="training budget (resumed time included)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--apply", action="store_true", help="write look.onnx, its fixture and critic.json's look")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [look] {msg}", flush=True)  # noqa: E731
    frames, boxes, labels = training_frames(args.threads, log)
    net, steps, elapsed = train(frames, boxes, labels, args.minutes, log)
    del frames
    domain = PACKAGES["road-critic"][1]
    with tempfile.TemporaryDirectory() as tmp:
        critic = from_onnx.checkpoint_from_package("road-critic", tmp).eval()
    weight, weight_scores = choose_weight(net, critic, domain)
    log(f"the look's weight: {weight} ({weight_scores})")
    sets = {}
    for shape in (None, "mismatched"):
        imgs, ps = domain.dataset(2000, EVAL_SEED, shape=shape)
        visible = held_out_visibility(domain, imgs, EVAL_SEED, shape)
        sets["held-out mixture" if shape is None else "held-out, another class's box shape"] = figures(ps, read(net, critic, imgs, ps, weight), weight, visible)
    count = len(library_scenarios())
    with Pool(args.threads) as pool:
        parts = pool.map(library_renders, [range(0, count, 2), range(1, count, 2)])
    lib_frames = np.concatenate([f for f, _, _ in parts])
    lib_params = [p for _, ps, _ in parts for p in ps]
    sets["library scenarios' own draws"] = figures(lib_params, read(net, critic, lib_frames, lib_params, weight), weight)
    report = {"command": "python3 training/look.py" + (f" --minutes {args.minutes:g}" if args.minutes != 30 else ""),
              "window": WINDOW, "minutes": args.minutes, "steps": steps, "trainingFrames": int(len(labels)),
              "weight": weight, "weightScores": weight_scores,
              "sets": sets, "wallTimeSeconds": round(time.time() - started, 1)}
    if args.apply:
        export(net, weight, report)
        report["files"] = {"look.onnx": package.sha256(os.path.join(PACKAGE, "look.onnx"))}
    os.makedirs(REPORTS, exist_ok=True)
    json.dump(report, open(os.path.join(REPORTS, "road-critic-look.json"), "w"), indent=1)
    open(os.path.join(REPORTS, "road-critic-look.md"), "w").write(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
