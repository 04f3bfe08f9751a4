"""The two domains: their condition layouts (docs/model-package.md encoding) and datasets.

A condition layout is the single source of truth for the vector every model sees: the
diffusion model takes it as input, the critic predicts it, the detector's classes are
its categorical class field minus "none".
"""
import os
import time

import numpy as np

from procedural import brain, road

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


class ConditionLayout:
    """Fields in order; categorical = one-hot over values, scalar = (v - lo) / (hi - lo)."""

    def __init__(self, fields):
        self.fields, offset = [], 0
        for f in fields:
            width = len(f["values"]) if f["kind"] == "categorical" else 1
            self.fields.append({**f, "offset": offset, "width": width})
            offset += width
        self.width = offset

    def field(self, name):
        return next(f for f in self.fields if f["name"] == name)

    def encode(self, params):
        vec = np.zeros(self.width, np.float32)
        for f in self.fields:
            value = params[f["name"]]
            if f["kind"] == "categorical":
                vec[f["offset"] + f["values"].index(value)] = 1.0
            else:
                lo, hi = f["range"]
                if not lo <= value <= hi:
                    raise ValueError(f"{f['name']}={value} outside {f['range']}")
                vec[f["offset"]] = (value - lo) / (hi - lo)
        return vec

    def decode(self, vec):
        """Inverse of encode; categorical slots may hold logits (argmax is taken)."""
        params = {}
        for f in self.fields:
            chunk = vec[f["offset"]:f["offset"] + f["width"]]
            if f["kind"] == "categorical":
                params[f["name"]] = f["values"][int(np.argmax(chunk))]
            else:
                lo, hi = f["range"]
                params[f["name"]] = float(lo + np.clip(chunk[0], 0, 1) * (hi - lo))
        return params

    def manifest(self):
        out = []
        for f in self.fields:
            entry = {"name": f["name"], "kind": f["kind"]}
            if f["kind"] == "categorical":
                entry["values"] = list(f["values"])
            else:
                entry["range"] = [float(x) for x in f["range"]]
            entry.update({"offset": f["offset"], "width": f["width"]})
            out.append(entry)
        return out


class Domain:
    def __init__(self, name, generator, layout, channels, class_field, box_of, label, categorical_attributes):
        self.name, self.generator, self.layout, self.channels = name, generator, layout, channels
        self.class_field = class_field
        self.box_of = box_of                      # params -> (cx, cy, w, h) fractions, or None when absent
        self.label = label                        # () -> model.json's label rule (docs/model-package.md)
        self.categorical_attributes = categorical_attributes

    @property
    def classes(self):
        """Detector classes: the class field's values without "none"."""
        return [v for v in self.layout.field(self.class_field)["values"] if v != "none"]

    def draw(self, rng, **fixed):
        return self.generator.draw_condition(rng, **{k: v for k, v in fixed.items() if v is not None})

    def render(self, params, rng, size=64):
        return self.generator.render(params, rng, size)

    def dataset(self, count, seed, size=64, shape=None):
        """Images (uint8 [N,C,S,S]) and condition params, cached under training/data/. shape (road only):
        draw every box with that shape kind (e.g. "mismatched"); default: the generator's mixture."""
        os.makedirs(DATA_DIR, exist_ok=True)
        tag = f"-{shape}" if shape else ""
        path = os.path.join(DATA_DIR, f"{self.name}-v{self.generator.GENERATOR_VERSION}-s{seed}-n{count}-{size}{tag}.npz")
        if os.path.exists(path):
            data = np.load(path, allow_pickle=True)
            return data["images"], list(data["params"])
        rng = np.random.default_rng(seed)
        images = np.zeros((count, self.channels, size, size), np.uint8)
        params, started = [], time.time()
        for i in range(count):
            p = self.draw(rng, shape=shape)
            images[i] = np.round(self.render(p, rng, size) * 255)
            params.append(p)
        np.savez(path, images=images, params=np.array(params, dtype=object))
        print(f"[{self.name}] generated {count} images in {time.time() - started:.0f}s -> {path}", flush=True)
        return images, params


def _road_box(p):
    if p["hazard"] == "none":
        return None
    return (p["hazardCx"], p["hazardCy"], p["hazardW"], p["hazardH"])


def _brain_box(p):
    if p["pathology"] == "none":
        return None
    r = p["lesionRadius"]
    return (p["lesionX"], p["lesionY"], 2 * r, 2 * r)   # square images: radius is a fraction of the width and height


def _road_label():
    return {"kind": "box", "class": "hazard", "cx": "hazardCx", "cy": "hazardCy", "w": "hazardW", "h": "hazardH",
            "absentWhen": ["none"], "plausible": road.plausible_boxes()}


def _brain_label():
    return {"kind": "circle", "class": "pathology", "cx": "lesionX", "cy": "lesionY", "radius": "lesionRadius",
            "absentWhen": ["none"], "mask": True, "plausible": brain.plausible_circles()}


ROAD = Domain(
    "road", road,
    ConditionLayout([
        {"name": "hazard", "kind": "categorical", "values": road.HAZARDS},
        {"name": "weather", "kind": "categorical", "values": road.WEATHERS},
        {"name": "timeOfDay", "kind": "categorical", "values": road.TIMES_OF_DAY},
        {"name": "hazardCx", "kind": "scalar", "range": [0, 1]},
        {"name": "hazardCy", "kind": "scalar", "range": [0, 1]},
        {"name": "hazardW", "kind": "scalar", "range": [0, 1]},
        {"name": "hazardH", "kind": "scalar", "range": [0, 1]},
    ]),
    channels=3, class_field="hazard", box_of=_road_box, label=_road_label,
    categorical_attributes=["hazard", "weather", "timeOfDay"])

BRAIN = Domain(
    "brain", brain,
    ConditionLayout([
        {"name": "pathology", "kind": "categorical", "values": brain.PATHOLOGIES},
        {"name": "lesionX", "kind": "scalar", "range": [0, 1]},
        {"name": "lesionY", "kind": "scalar", "range": [0, 1]},
        {"name": "lesionRadius", "kind": "scalar", "range": list(brain.RADIUS_RANGE)},
        {"name": "lesionContrast", "kind": "scalar", "range": list(brain.CONTRAST_RANGE)},
    ]),
    channels=1, class_field="pathology", box_of=_brain_box, label=_brain_label,
    categorical_attributes=["pathology"])

DOMAINS = {"road": ROAD, "brain": BRAIN}

# Shipped packages: which domain each belongs to.
PACKAGES = {
    "road-hazards": ("diffusion", ROAD), "road-detector": ("detector", ROAD), "road-critic": ("critic", ROAD),
    "brain-mri": ("diffusion", BRAIN), "brain-detector": ("detector", BRAIN), "brain-critic": ("critic", BRAIN),
}

TRAIN_SEED, EVAL_SEED = 1, 2   # evaluation uses held-out generator draws
