"""The detector under test (YOLOv8 output layout) and the fidelity critic, per domain.

Both are trained on generator images only. The detector is deliberately small and
gets no augmentation, so its weak spots (night, fog, small objects) stay visible in
the loop. The critic is trained with blur and noise augmentation so that it judges
model samples, which are softer than generator renders, by their content.
"""
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .domains import TRAIN_SEED

IMAGE_SIZE = 64
DETECTOR_STRIDE = 4
DETECTOR_BASE_SIZE = 16.0   # pixels; w = exp(raw) * base


def conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Detector(nn.Module):
    """Anchor-free, one scale (stride 4, 16x16 = 256 predictions).

    Input: images [B,3,64,64] RGB in 0..1. Output: [B, 4 + C, 256]: cx, cy, w, h in input
    pixels, then C sigmoid class scores; no objectness, no NMS (Ultralytics YOLOv8 layout).
    """

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(conv(3, 16, 2), conv(16, 24))                 # 32x32
        self.c3 = nn.Sequential(conv(24, 32, 2), conv(32, 32))                  # 16x16
        self.c4 = nn.Sequential(conv(32, 64, 2), conv(64, 64), conv(64, 64))    # 8x8
        self.fuse = nn.Sequential(conv(64 + 32, 64), conv(64, 64))              # 16x16
        self.box = nn.Conv2d(64, 4, 1)
        self.cls = nn.Conv2d(64, num_classes, 1)
        nn.init.constant_(self.cls.bias, -4.0)   # rare positives: start with low scores
        n = IMAGE_SIZE // DETECTOR_STRIDE
        gy, gx = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
        self.register_buffer("grid_x", gx.reshape(1, -1), persistent=False)
        self.register_buffer("grid_y", gy.reshape(1, -1), persistent=False)

    def raw(self, images):
        f3 = self.c3(self.stem(images))
        f4 = self.c4(f3)
        h = self.fuse(torch.cat([F.interpolate(f4, scale_factor=2.0, mode="nearest"), f3], dim=1))
        return self.box(h).flatten(2), self.cls(h).flatten(2)    # [B,4,N], [B,C,N]

    def decode(self, box_raw):
        # Centre within +-1.5 cells of the cell centre; size log-encoded around 16 px.
        cx = (self.grid_x + 0.5 + 3.0 * (torch.sigmoid(box_raw[:, 0]) - 0.5)) * DETECTOR_STRIDE
        cy = (self.grid_y + 0.5 + 3.0 * (torch.sigmoid(box_raw[:, 1]) - 0.5)) * DETECTOR_STRIDE
        w = torch.exp(box_raw[:, 2].clamp(-4, 3)) * DETECTOR_BASE_SIZE
        h = torch.exp(box_raw[:, 3].clamp(-4, 3)) * DETECTOR_BASE_SIZE
        return torch.stack([cx, cy, w, h], dim=1)

    def forward(self, images):
        box_raw, cls_raw = self.raw(images)
        return torch.cat([self.decode(box_raw), torch.sigmoid(cls_raw)], dim=1)


class Critic(nn.Module):
    """The first critic architecture ("flat"; road-critic 1.0.0 and brain-critic 1.0.0). Predicts the condition vector from an image in model space ([-1, 1], [B,C,64,64]).

    Output [B, conditionWidth] in the condition layout: categorical slots are logits
    (argmax = predicted value), scalar slots are normalised 0..1 values.
    """

    arch = "flat"

    def __init__(self, channels, layout):
        super().__init__()
        self.scalar_mask = torch.zeros(layout.width)
        for f in layout.fields:
            if f["kind"] == "scalar":
                self.scalar_mask[f["offset"]] = 1.0
        self.register_buffer("is_scalar", self.scalar_mask.clone(), persistent=False)
        self.features = nn.Sequential(conv(channels, 32), conv(32, 48, 2), conv(48, 64), conv(64, 96, 2),
                                      conv(96, 96), conv(96, 128, 2), conv(128, 160, 2))   # 4x4
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(160 * 16, 256), nn.SiLU(), nn.Linear(256, layout.width))

    def forward(self, image):
        raw = self.head(self.features(image))
        return self.is_scalar * torch.sigmoid(raw) + (1 - self.is_scalar) * raw


class SpatialCritic(nn.Module):
    """A critic that finds the object before it names it (issue 17, architecture "spatial").

    The flat Critic pools a 4x4 map into one linear head, so every image position needs its own
    weights and an object of 2-4 pixels is washed out by the strides. Here a 16x16 map (stride 4, fed
    from a stride-8 map upsampled and fused as in the detector) carries, per cell, an objectness logit,
    the object-class logits and the object's scalars (centre as an offset from the cell, like the
    detector; sizes and other object scalars as 0..1). Softmax over the cells' objectness weights the
    cells: the class logits and the scalars are those weighted means, the class field's absent value
    ("none") has the logit bias - logsumexp(objectness). Other categorical fields (weather, time of day)
    come from a global pool. Output: the same [B, conditionWidth] layout as Critic, so critic.json, the
    runtime and the realism gate read it unchanged.
    """

    GRID = IMAGE_SIZE // 4
    arch = "spatial"

    def __init__(self, channels, layout, class_field, centre_fields, absent="none"):
        super().__init__()
        self.layout_width = layout.width
        cls_field = layout.field(class_field)
        self.cls_offset, self.cls_values = cls_field["offset"], list(cls_field["values"])
        self.absent_index = self.cls_values.index(absent)
        self.object_classes = [i for i in range(len(self.cls_values)) if i != self.absent_index]
        self.scalars = [f for f in layout.fields if f["kind"] == "scalar"]
        self.centre_axis = [(0 if f["name"] == centre_fields[0] else 1 if f["name"] == centre_fields[1] else -1)
                            for f in self.scalars]
        self.globals = [f for f in layout.fields if f["kind"] == "categorical" and f["name"] != class_field]
        self.s4 = nn.Sequential(conv(channels, 32), conv(32, 48, 2), conv(48, 64), conv(64, 96, 2), conv(96, 96))  # 16x16
        self.s8 = nn.Sequential(conv(96, 128, 2), conv(128, 128))                                                 # 8x8
        self.fuse = nn.Sequential(conv(128 + 96, 112), conv(112, 112))
        self.dense = nn.Conv2d(112, 1 + len(self.object_classes) + len(self.scalars), 1)
        self.global_head = nn.Sequential(nn.Linear(2 * 128, 128), nn.SiLU(),
                                         nn.Linear(128, sum(len(f["values"]) for f in self.globals))) if self.globals else None
        self.none_bias = nn.Parameter(torch.zeros(1))
        n = self.GRID
        gy, gx = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
        self.register_buffer("grid", torch.stack([gx.reshape(-1), gy.reshape(-1)]), persistent=False)   # [2,N]

    def dense_outputs(self, image):
        """Per cell: objectness logit [B,N], class logits [B,K,N], scalars (normalised) [B,S,N]; and the 8x8 map."""
        f4 = self.s4(image)
        f8 = self.s8(f4)
        h = self.fuse(torch.cat([F.interpolate(f8, scale_factor=2.0, mode="nearest"), f4], dim=1))
        d = self.dense(h).flatten(2)
        k = len(self.object_classes)
        obj, cls, raw = d[:, 0], d[:, 1:1 + k], d[:, 1 + k:]
        cols = []
        for i, axis in enumerate(self.centre_axis):
            if axis < 0:
                cols.append(torch.sigmoid(raw[:, i]))
            else:   # centre within +-1.5 cells of the cell's centre, as a fraction of the image
                cols.append((self.grid[axis] + 0.5 + 3.0 * (torch.sigmoid(raw[:, i]) - 0.5)) / self.GRID)
        return obj, cls, torch.stack(cols, dim=1), f8

    def forward(self, image):
        return self.assemble(*self.dense_outputs(image))

    def assemble(self, obj, cls, scalars, f8):
        """The condition-layout vector from dense_outputs."""
        weights = torch.softmax(obj, dim=1).unsqueeze(1)                       # [B,1,N]
        cls_logits = (cls * weights).sum(2)                                     # [B,K]
        none_logit = self.none_bias - torch.logsumexp(obj, dim=1, keepdim=True)
        pooled = ((scalars * weights).sum(2)).clamp(0.0, 1.0)                  # [B,S]
        g = self.global_head(torch.cat([f8.mean((2, 3)), f8.amax((2, 3))], dim=1)) if self.global_head else None
        slots = [None] * self.layout_width
        for j, index in enumerate(self.object_classes):
            slots[self.cls_offset + index] = cls_logits[:, j]
        slots[self.cls_offset + self.absent_index] = none_logit[:, 0]
        for i, f in enumerate(self.scalars):
            slots[f["offset"]] = pooled[:, i]
        at = 0
        for f in self.globals:
            for j in range(len(f["values"])):
                slots[f["offset"] + j] = g[:, at + j]
            at += len(f["values"])
        return torch.stack(slots, dim=1)


def box_iou(a, b):
    """IoU of boxes given as (cx, cy, w, h), broadcasting over leading dims."""
    ax0, ay0, ax1, ay1 = a[..., 0] - a[..., 2] / 2, a[..., 1] - a[..., 3] / 2, a[..., 0] + a[..., 2] / 2, a[..., 1] + a[..., 3] / 2
    bx0, by0, bx1, by1 = b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2
    iw = (torch.minimum(ax1, bx1) - torch.maximum(ax0, bx0)).clamp(min=0)
    ih = (torch.minimum(ay1, by1) - torch.maximum(ay0, by0)).clamp(min=0)
    inter = iw * ih
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter + 1e-9)


def detector_input(images_uint8, domain):
    x = torch.from_numpy(images_uint8).float() / 255.0
    return x.expand(-1, 3, -1, -1) if domain.channels == 1 else x   # grayscale is replicated to RGB


def detector_targets(params, domain):
    """Per image: class index (-1 when absent) and box in pixels (cx, cy, w, h)."""
    classes, boxes = [], []
    for p in params:
        box = domain.box_of(p)
        if box is None:
            classes.append(-1); boxes.append((0, 0, 1, 1))
        else:
            classes.append(domain.classes.index(p[domain.class_field]))
            boxes.append(tuple(v * IMAGE_SIZE for v in box))
    return torch.tensor(classes), torch.tensor(boxes, dtype=torch.float32)


def detector_loss(model, images, classes, boxes):
    box_raw, cls_raw = model.raw(images)
    pred = model.decode(box_raw)                               # [B,4,N]
    b, n = cls_raw.shape[0], cls_raw.shape[2]
    # Positives: cells whose centre lies within 1.5 cells of the box centre and inside the box,
    # plus always the centre cell (small objects).
    cell_cx = (model.grid_x + 0.5) * DETECTOR_STRIDE            # [1,N]
    cell_cy = (model.grid_y + 0.5) * DETECTOR_STRIDE
    dx, dy = (cell_cx - boxes[:, :1]).abs(), (cell_cy - boxes[:, 1:2]).abs()
    near = (dx <= 1.5 * DETECTOR_STRIDE) & (dy <= 1.5 * DETECTOR_STRIDE)
    inside = (dx <= boxes[:, 2:3] / 2) & (dy <= boxes[:, 3:4] / 2)
    centre = (dx <= DETECTOR_STRIDE / 2) & (dy <= DETECTOR_STRIDE / 2)
    positive = ((near & inside) | centre) & (classes[:, None] >= 0)   # [B,N]
    target = torch.zeros_like(cls_raw)
    rows = classes.clamp(min=0)
    target[torch.arange(b)[:, None].expand(b, n)[positive], rows[:, None].expand(b, n)[positive],
           torch.arange(n)[None].expand(b, n)[positive]] = 1.0
    num_pos = positive.sum().clamp(min=1).float()
    cls_loss = F.binary_cross_entropy_with_logits(cls_raw, target, reduction="sum") / num_pos
    if positive.any():
        p = pred.permute(0, 2, 1)[positive]                     # [P,4]
        g = boxes[:, None, :].expand(b, n, 4)[positive]
        box_loss = (1 - box_iou(p, g)).mean() + ((p - g).abs() / IMAGE_SIZE).sum(1).mean()
    else:
        box_loss = cls_raw.sum() * 0
    return cls_loss + 5.0 * box_loss


def critic_targets(params, domain):
    layout = domain.layout
    vecs = np.stack([layout.encode(p) for p in params])
    present = np.array([p[domain.class_field] != "none" for p in params], np.float32)
    return torch.from_numpy(vecs), torch.from_numpy(present)


def spatial_aux_loss(model, dense, vecs, present):
    """SpatialCritic's per-cell supervision (dense: its dense_outputs): objectness softmax towards the cells
    around the object's centre (the centre cell and the 3x3 cells inside the box), and the class and scalars
    of those cells."""
    obj, cls, scalars, _ = dense
    centre = torch.stack([vecs[:, f["offset"]] for f, axis in zip(model.scalars, model.centre_axis) if axis >= 0], 1)
    sizes = [f for f, axis in zip(model.scalars, model.centre_axis) if axis < 0][:2]
    cell_centre = (model.grid + 0.5) / model.GRID                                  # [2,N]
    d = (cell_centre[None] - centre[:, :, None]).abs()                              # [B,2,N]
    near = (d <= 1.5 / model.GRID).all(1)
    half = torch.stack([vecs[:, f["offset"]] for f in sizes], 1) / 2 if sizes else torch.zeros_like(centre)
    if half.shape[1] == 1:
        half = half.expand(-1, 2)
    inside = (d <= half[:, :, None].clamp(min=0.5 / model.GRID)).all(1)
    positive = ((near & inside) | (d <= 0.5 / model.GRID).all(1)) & (present[:, None] > 0)
    target = positive.float() / positive.float().sum(1, keepdim=True).clamp(min=1)
    rows = present > 0
    if not rows.any():
        return obj.sum() * 0
    obj_loss = -(torch.log_softmax(obj, 1) * target)[rows].sum(1).mean()
    cls_target = vecs[:, model.cls_offset:model.cls_offset + len(model.cls_values)][:, model.object_classes].argmax(1)
    pos_b, pos_n = positive.nonzero(as_tuple=True)
    cls_loss = F.cross_entropy(cls[pos_b, :, pos_n], cls_target[pos_b])
    want = torch.stack([vecs[:, f["offset"]] for f in model.scalars], 1)
    scalar_loss = (scalars[pos_b, :, pos_n] - want[pos_b]).abs().sum(1).mean()
    return obj_loss + cls_loss + 4.0 * scalar_loss


# Weight of each scalar's error in the critic loss; an attribute the judge must read to a tolerance
# (brain lesion contrast, target MAE <= 0.05 on a 0.25-1 range) weighs more than the box coordinates.
CRITIC_SCALAR_WEIGHTS = {"lesionContrast": 10.0}
CRITIC_SCALAR_WEIGHT = 4.0


def critic_loss(model, images, vecs, present, layout):
    if model.arch == "spatial":
        dense = model.dense_outputs(images)
        out, loss = model.assemble(*dense), spatial_aux_loss(model, dense, vecs, present)
    else:
        out, loss = model(images), 0.0
    for f in layout.fields:
        sl = slice(f["offset"], f["offset"] + f["width"])
        if f["kind"] == "categorical":
            loss = loss + F.cross_entropy(out[:, sl], vecs[:, sl].argmax(1))
        else:
            # Box and lesion scalars mean nothing when no object is present.
            err = (out[:, sl] - vecs[:, sl]).abs().squeeze(1) * present
            weight = CRITIC_SCALAR_WEIGHTS.get(f["name"], CRITIC_SCALAR_WEIGHT)
            loss = loss + weight * err.sum() / present.sum().clamp(min=1)
    return loss


def augment_for_critic(x, gen):
    """Blur and noise so the critic judges content, not the generator's exact rendering."""
    b = x.shape[0]
    sigma = torch.rand(b, generator=gen) * 1.2
    k = torch.arange(-2, 3, dtype=torch.float32)
    kernels = torch.exp(-k[None] ** 2 / (2 * sigma[:, None].clamp(min=0.05) ** 2))
    kernels = kernels / kernels.sum(1, keepdim=True)                  # [B,5]
    b, c, hgt, wid = x.shape
    # One grouped convolution for the whole batch: each image gets its own separable kernel.
    per_channel = kernels.repeat_interleave(c, dim=0)                   # [B*C,5]
    flat = F.pad(x.reshape(1, b * c, hgt, wid), (2, 2, 2, 2), mode="replicate")
    flat = F.conv2d(flat, per_channel.view(b * c, 1, 1, 5), groups=b * c)
    flat = F.conv2d(flat, per_channel.view(b * c, 1, 5, 1), groups=b * c)
    x = flat.reshape(b, c, hgt, wid)
    return x + torch.randn(x.shape, generator=gen) * (torch.rand(b, 1, 1, 1, generator=gen) * 0.08)


def augment_like_samples(x, gen):
    """The critic's training augmentation (issue 17): on top of augment_for_critic's blur and noise,
    the artefacts of diffusion samples: colour and contrast drift, low-frequency blotches and slight
    blockiness (a 2x2 average, partly blended). x: model space [-1, 1]; each applied to part of the batch."""
    b = x.shape[0]
    x = augment_for_critic(x, gen)
    u = (x + 1) / 2

    def pick(p):
        return (torch.rand(b, 1, 1, 1, generator=gen) < p).float()

    # Colour: brightness, contrast, per-channel gain, saturation.
    m = pick(0.7)
    bright = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.3
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.4
    gain = 1 + (torch.rand(b, u.shape[1], 1, 1, generator=gen) - 0.5) * 0.14
    mean = u.mean((1, 2, 3), keepdim=True)
    jittered = ((u - mean) * contrast + mean) * bright * gain
    if u.shape[1] == 3:
        grey = jittered.mean(1, keepdim=True)
        sat = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.6
        jittered = grey + (jittered - grey) * sat
    u = m * jittered + (1 - m) * u
    # Low-frequency blotches.
    m = pick(0.5)
    field = F.interpolate(torch.randn(b, u.shape[1], 4, 4, generator=gen), size=u.shape[-2:], mode="bilinear",
                          align_corners=False)
    u = u + m * field * torch.rand(b, 1, 1, 1, generator=gen) * 0.05
    # Slight blockiness.
    m = pick(0.3) * torch.rand(b, 1, 1, 1, generator=gen)
    blocky = F.interpolate(F.avg_pool2d(u, 2), scale_factor=2.0, mode="nearest")
    u = m * blocky + (1 - m) * u
    u = u + pick(0.6) * speckle(u.shape, gen)
    return u.clamp(0, 1) * 2 - 1


def speckle(shape, gen):
    """Isolated pixels off in colour, and a noisy one-pixel frame: the residue the shipped diffusion
    models leave (road-hazards' empty-road samples at the product defaults: 7.6 % of pixels 0.05 or
    more off their 3x3 median in chroma, renders 0.08 %; training/README section 8). Without it the
    critic reads that residue as a small object. Per image: a density up to 12 %, a strength of 0.05-0.25
    (0..1 units) per channel, and in a third of the images the frame."""
    b, c, hgt, wid = shape
    density = torch.rand(b, 1, 1, 1, generator=gen) * 0.12
    strength = 0.05 + torch.rand(b, 1, 1, 1, generator=gen) * 0.2
    dots = (torch.rand(b, 1, hgt, wid, generator=gen) < density).float()
    noise = dots * torch.randn(b, c, hgt, wid, generator=gen) * strength
    frame = torch.ones(1, 1, hgt, wid)
    frame[:, :, 1:-1, 1:-1] = 0
    framed = (torch.rand(b, 1, 1, 1, generator=gen) < 1 / 3).float()
    return noise + framed * frame * torch.randn(b, c, hgt, wid, generator=gen) * strength


def build(kind, domain, arch="flat"):
    """A detector, or a critic of the given architecture ("flat": Critic, "spatial": SpatialCritic)."""
    if kind == "detector":
        return Detector(len(domain.classes))
    if arch == "spatial":
        label = domain.label()
        return SpatialCritic(domain.channels, domain.layout, domain.class_field, (label["cx"], label["cy"]))
    return Critic(domain.channels, domain.layout)


NEW_CRITIC_ARCH = "spatial"   # what a critic run without a checkpoint trains; a resumed run keeps its checkpoint's
CRITIC_MORE_DATA = (5, 20000)  # spatial critics: a third training set (seed, images)
# Spatial critics of a generator that draws "small" boxes (road): a fourth set of small objects only (seed, images,
# shape). On the library's draws, road-critic 1.2.0 names 80 % of objects under 3 px and 87 % of 3-5 px ones; a
# reader that sees only the 16 px around such a box names 94 % and 98 % (training/small_objects.py).
CRITIC_SMALL_DATA = (6, 20000, "small")
SMALL_OBJECT = 8 / IMAGE_SIZE  # a box whose longer side is under 8 px


FAINT_LESION_CONTRAST, SMALL_LESION_RADIUS = 0.4, 4.5 / IMAGE_SIZE   # where brain-critic 1.2.0 misreads lesions
# Named tables per domain (train.py --sampling for a critic), as diffusion.SAMPLING; the brain's own tables weigh pathologies.
CRITIC_SAMPLING_DEFAULT = "spatial-1.2"
CRITIC_SAMPLING = {"road": (CRITIC_SAMPLING_DEFAULT,),
                   "brain": (CRITIC_SAMPLING_DEFAULT, "faint-lesions", "faint-small", "faint-small-none")}
# "faint-small": where brain-critic 1.4.0 misreads the library's faint tumours (faint-low-contrast-lesion: 87.5 % of
# exact renders read as tumour, the rest as lesions): a tumour or haemorrhage fainter than FAINT_LESION_CONTRAST, or
# in the smallest third of its radius range, is drawn 3x as often (both: 5x), on top of faint-lesions.
SMALL_THIRD = 1 / 3
# "faint-small-none": faint-small, but the empty slices keep the share of the draws the default table gives them (a
# faint-small run read more of brain-mri's empty slices as a pathology).


def critic_sampling_weights(params, domain, table=CRITIC_SAMPLING_DEFAULT):
    """Spatial critics draw small objects 3x and night or fog scenes 2x as often (issue 17: where the
    judge is weakest). Table "faint-lesions" also draws brain lesions fainter than FAINT_LESION_CONTRAST or
    smaller than SMALL_LESION_RADIUS 3x as often (both: 5x), where brain-critic 1.2.0 reads lesions as none; table
    "faint-small" also faint tumours and haemorrhages and those in the smallest third of their radius range."""
    if table not in CRITIC_SAMPLING[domain.name]:
        raise ValueError(f"unknown {domain.name} critic sampling table {table!r} (known: {', '.join(CRITIC_SAMPLING[domain.name])})")
    w, default_total = np.ones(len(params)), 0.0
    for i, p in enumerate(params):
        box = domain.box_of(p)
        if box is not None and max(box[2], box[3]) < SMALL_OBJECT:
            w[i] += 2.0
        if p.get("timeOfDay") == "night" or p.get("weather") == "fog":
            w[i] += 1.0
        default_total += w[i]   # the default table's weight; the tables below add to lesions, tumours, haemorrhages only
        if table != CRITIC_SAMPLING_DEFAULT and p.get("pathology") == "lesions":
            w[i] += 2.0 * ((p["lesionContrast"] < FAINT_LESION_CONTRAST) + (p["lesionRadius"] < SMALL_LESION_RADIUS))
        if table.startswith("faint-small") and p.get("pathology") in ("tumour", "haemorrhage"):
            lo, hi = domain.generator.RADIUS_BY_PATHOLOGY[p["pathology"]]
            w[i] += 2.0 * ((p["lesionContrast"] < FAINT_LESION_CONTRAST) + (p["lesionRadius"] < lo + SMALL_THIRD * (hi - lo)))
    if table == "faint-small-none":
        none = np.array([p.get("pathology") == "none" for p in params])
        share = w[none].sum() / default_total   # the empty slices' share under the default table
        w[none] *= share * w[~none].sum() / ((1 - share) * w[none].sum())
    return torch.from_numpy(w / w.sum())


def attribute_scalars(domain):
    """The object's scalars that are not its geometry (the label rule's cx, cy, w, h or radius), which the box
    check does not cover (brain: lesionContrast)."""
    geometry = {v for k, v in domain.label().items() if k in ("cx", "cy", "w", "h", "radius")}
    return [f["name"] for f in domain.layout.fields if f["kind"] == "scalar" and f["name"] not in geometry]


CRITIC_READ_BATCH = 250


def read_batched(model, x, batch=CRITIC_READ_BATCH):
    """The model's outputs for x (model space), read batch by batch in eval mode without gradients (the model's
    training flag is restored)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    model.train(was_training)
    return out


@torch.no_grad()
def critic_heldout_figures(model, domain, x, params):
    """Per categorical field accuracy, median box IoU and the mean absolute error of each attribute
    scalar (over images with an object) of the critic on x (model space)."""
    out = read_batched(model, x).numpy()
    acc = {a: [] for a in domain.categorical_attributes}
    ious, errors = [], {a: [] for a in attribute_scalars(domain)}
    for p, vec in zip(params, out):
        found = domain.layout.decode(vec)
        for a in acc:
            acc[a].append(found[a] == p[a])
        box = domain.box_of(p)
        if box is not None:
            fb = domain.box_of({**found, domain.class_field: p[domain.class_field]})
            ious.append(float(box_iou(torch.tensor(box), torch.tensor(fb))))
            for a in errors:
                errors[a].append(abs(found[a] - p[a]))
    mae = {a: float(np.mean(v)) for a, v in errors.items() if v}
    return {a: float(np.mean(v)) for a, v in acc.items()}, float(np.median(ious)) if ious else 0.0, mae


CRITIC_EXTRA_DATA = (4, 10000)     # a second training set for the critic (seed, images)
CRITIC_HELD_OUT = (3, 1500)        # held-out set for early stopping (seed, images); evaluate.py reports on seed 2
CRITIC_EVAL_EVERY, CRITIC_PATIENCE = 150, 6


def critic_score(clean, augmented, iou, mae):
    """Early-stopping score: mean categorical accuracy (clean and augmented), half the median box IoU,
    less each attribute scalar's mean absolute error (brain lesion contrast)."""
    return (np.mean(list(clean.values())) + np.mean(list(augmented.values()))) / 2 + 0.5 * iou - sum(mae.values())


def train(kind, domain, checkpoint_dir, minutes, batch_size=64, lr=2e-3, dataset_size=20000, log=print, new_run=False,
          sampling_table=CRITIC_SAMPLING_DEFAULT):
    """Trains for a wall-clock budget of this run (resumed time included; new_run: this run starts now, from the
    checkpoint's weights and optimizer). The critic also holds out
    CRITIC_HELD_OUT images, scores itself there every CRITIC_EVAL_EVERY steps (critic_score), keeps the best weights in
    best.pt and, past 80 % of the schedule, stops after CRITIC_PATIENCE evaluations without improvement."""
    torch.manual_seed(TRAIN_SEED)
    last = os.path.join(checkpoint_dir, "last.pt")
    best_path = os.path.join(checkpoint_dir, "best.pt")
    state = torch.load(last) if os.path.exists(last) else None
    arch = (state.get("arch", "flat") if state else NEW_CRITIC_ARCH) if kind == "critic" else None
    sampling = None   # spatial critics: drawing weights per training image
    images, params = domain.dataset(dataset_size, TRAIN_SEED)
    if kind == "critic":
        extra = [CRITIC_EXTRA_DATA] + ([CRITIC_MORE_DATA] if arch == "spatial" else [])
        if arch == "spatial" and hasattr(domain.generator, "SMALL_SIDE"):
            extra.append(CRITIC_SMALL_DATA)
        for seed, count, *shape in extra:
            extra_images, extra_params = domain.dataset(count, seed, shape=shape[0] if shape else None)
            images, params = np.concatenate([images, extra_images]), list(params) + list(extra_params)
        sampling = critic_sampling_weights(params, domain, sampling_table) if arch == "spatial" else None
        ho_images, ho_params = domain.dataset(CRITIC_HELD_OUT[1], CRITIC_HELD_OUT[0])
        ho_x = torch.from_numpy(ho_images).float() / 127.5 - 1.0
        ho_aug = augment_like_samples(ho_x, torch.Generator().manual_seed(CRITIC_HELD_OUT[0]))
    model = build(kind, domain, arch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    if kind == "detector":
        classes, boxes = detector_targets(params, domain)
    else:
        vecs, present = critic_targets(params, domain)
    log(f"{kind} parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M, {len(images)} training images"
        + (f", architecture {arch}" if arch else ""))
    step, elapsed, run_elapsed, run_first_step = 0, 0.0, 0.0, 0
    best = {"score": -1.0, "step": None, "stale": 0}
    if state is not None:
        # Resumes (e.g. from from_onnx.py's recovery of the shipped file).
        model.load_state_dict(state["model"])
        if state.get("opt") is not None:
            opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        run_elapsed, run_first_step = state.get("runElapsed", 0.0), state.get("runFirstStep", step)
        if new_run:
            run_elapsed, run_first_step = 0.0, step
        if "scalarMeanAbsError" in state.get("best", {}):
            best = {**state["best"], "stale": 0} if new_run else state["best"]
        else:   # scored before critic_score counted the attribute scalars: the first evaluation sets the bar
            log("held-out score changed since this checkpoint's best; the next evaluation sets the best anew")
        log(f"resumed at step {step} (this run: {step - run_first_step} steps, {run_elapsed:.0f}s)"
            + (" (fresh optimizer state)" if state.get("opt") is None else ""))
    gen = torch.Generator().manual_seed(TRAIN_SEED + step)
    base_elapsed, started, first_step, losses = elapsed - run_elapsed, time.time() - run_elapsed, step, []

    def checkpoint():
        run = time.time() - started
        save(model, opt, step, base_elapsed + run, last,
             extra={"runElapsed": run, "runFirstStep": run_first_step, "best": best})

    model.train()
    while time.time() - started < minutes * 60:
        frac = (time.time() - started) / (minutes * 60)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step - first_step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        if sampling is not None:
            idx = torch.multinomial(sampling, batch_size, replacement=True, generator=gen)
        else:
            idx = torch.randint(0, len(images), (batch_size,), generator=gen)
        if kind == "detector":
            loss = detector_loss(model, detector_input(images[idx.numpy()], domain), classes[idx], boxes[idx])
        else:
            x = torch.from_numpy(images[idx.numpy()]).float() / 127.5 - 1.0
            loss = critic_loss(model, augment_like_samples(x, gen), vecs[idx], present[idx], domain.layout)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            log(f"step {step} loss {np.mean(losses[-100:]):.4f} run {time.time() - started:.0f}s")
            checkpoint()
        if kind == "critic" and step % CRITIC_EVAL_EVERY == 0:
            clean, iou, mae = critic_heldout_figures(model, domain, ho_x, ho_params)
            aug, aug_iou, _ = critic_heldout_figures(model, domain, ho_aug, ho_params)
            score = critic_score(clean, aug, iou, mae)
            improved = score > best["score"] + 1e-4
            if improved:
                best = {"score": float(score), "step": step, "stale": 0, "clean": clean, "augmented": aug,
                        "medianBoxIoU": iou, "augmentedMedianBoxIoU": aug_iou, "scalarMeanAbsError": mae}
                save(model, opt, step, base_elapsed + time.time() - started, best_path)
            else:
                best["stale"] += 1
            log(f"held-out step {step}: clean {clean} IoU {iou:.3f} MAE {mae}; augmented {aug} IoU {aug_iou:.3f}; "
                f"score {score:.4f}" + (" (best)" if improved else f" (best {best['score']:.4f} at step {best['step']})"))
            checkpoint()
            # Never while the learning rate is still high: a resumed run restarts the cosine schedule part-way up
            # (the held-out score first drops, then climbs past the old best as the rate decays).
            if best["stale"] >= CRITIC_PATIENCE and frac > 0.8:
                log(f"early stop: no held-out improvement in {CRITIC_PATIENCE} evaluations")
                break
    elapsed = base_elapsed + time.time() - started
    checkpoint()
    log(f"done: {step} steps in {elapsed:.0f}s total, final loss {np.mean(losses[-100:]) if losses else float('nan'):.4f}"
        + (f"; best held-out at step {best['step']}" if kind == "critic" else ""))


def save(model, opt, step, elapsed, path, extra=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    arch = {"arch": model.arch} if hasattr(model, "arch") else {}
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed, **arch,
                **(extra or {})}, tmp)
    os.replace(tmp, path)


def load_trained(kind, domain, checkpoint_dir):
    """The trained weights: a critic's best held-out checkpoint (best.pt) when there is one, else last.pt."""
    path = os.path.join(checkpoint_dir, "best.pt")
    if kind != "critic" or not os.path.exists(path):
        path = os.path.join(checkpoint_dir, "last.pt")
    state = torch.load(path)
    model = build(kind, domain, state.get("arch", "flat"))
    model.load_state_dict(state["model"])
    return model.eval(), state["step"], state["elapsed"]
