"""Procedural road scenes with a labelled hazard (the automotive training domain).

Every scene is drawn from its condition: hazard class, weather, time of day and the
hazard's bounding box (fractions of the image). The box is exact ground truth: the drawn
hazard touches all four sides of it. Rendering is at 2x and box-filtered down to the output
size, so edges are anti-aliased. Images are float32 RGB in [0, 1], shape [3, H, W].

Generator version 2 (issue 17): the class no longer follows from the box shape. Version 1 tied
each class to one aspect and height (ASPECT, HEIGHT_AT_NEAR below) and stretched a fixed drawing
into the box, so a model or critic could learn "tall = pedestrian, wide = animal" and fail on the
library's boxes (a cyclist box 0.08-0.16 x 0.12-0.26 is a pedestrian's shape in version 1). Now:
- every class is drawn over every box size and aspect that is plausible for it and that the
  scenario library asks for (LIBRARY_BOXES, copied from scenarios/*.yaml), plus boxes with another
  class's typical shape (draw_condition's `shape="mismatched"`, also used to test critics);
- the drawing is not stretched: each class keeps its natural proportions and its parts adapt to
  the box (a cyclist is seen from behind in a narrow box and from the side in a wide one; a
  vehicle from behind, or from the side when the box is long; an animal keeps leg and head size
  and its body takes the length; a pedestrian's stance and arms widen; cones stand side by side in
  a wide box; debris is a tyre or crate when tall, a scattered pile when flat). Each drawing still
  touches all four sides of the box, so the box stays tight ground truth (centring a naturally
  shaped object inside a wrongly shaped box would leave empty margins and break the label).
"""
import numpy as np

GENERATOR_VERSION = "2"

HAZARDS = ["none", "pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"]
WEATHERS = ["clear", "rain", "fog", "snow"]
TIMES_OF_DAY = ["day", "dusk", "night"]

# Each class's *typical* box (version 1's only box): width / height, and the box height relative to
# the height it would have at the bottom of the image. Used for "natural" and "mismatched" boxes.
ASPECT = {"pedestrian": (0.35, 0.5), "cyclist": (0.6, 0.9), "animal": (1.1, 1.6),
          "debris": (1.6, 2.6), "cone": (0.5, 0.7), "vehicle": (1.1, 1.5)}
HEIGHT_AT_NEAR = {"pedestrian": 0.75, "cyclist": 0.7, "animal": 0.45,
                  "debris": 0.18, "cone": 0.3, "vehicle": 0.7}
# Aspects each class is plausibly seen at (views, stances, several cones, flat or upright debris).
PLAUSIBLE_ASPECT = {"pedestrian": (0.2, 0.9), "cyclist": (0.3, 2.0), "animal": (0.5, 2.6),
                    "debris": (0.6, 3.6), "cone": (0.3, 1.6), "vehicle": (0.7, 3.2)}
# The automotive scenario library's box ranges (scenarios/*.yaml): per class, (w, h) ranges
# [wmin, wmax, hmin, hmax]; a "scaled" width (deer-on-road-any-conditions: hazardW = hazardH x
# 1.1..1.6) is written as ("scaled", hmin, hmax, fmin, fmax). Copied when generator 2 was written, when
# small-distant-hazards-sweep drew one box for every class (SMALL_DISTANT); the library now draws each class
# its own small box inside plausible_boxes(), and the entries stay as they are so generator 2 draws what it
# was trained on.
SMALL_DISTANT = (0.03, 0.06, 0.03, 0.08)
LIBRARY_BOXES = {
    "pedestrian": [(0.04, 0.06, 0.09, 0.14), (0.06, 0.1, 0.16, 0.3), (0.05, 0.09, 0.12, 0.24), SMALL_DISTANT],
    "cyclist": [(0.08, 0.16, 0.12, 0.26), SMALL_DISTANT],
    "animal": [(0.1, 0.2, 0.08, 0.16), (0.1, 0.22, 0.1, 0.2), ("scaled", 0.06, 0.35, 1.1, 1.6), SMALL_DISTANT],
    "debris": [(0.06, 0.14, 0.04, 0.08), (0.05, 0.1, 0.03, 0.06), SMALL_DISTANT],
    "cone": [(0.04, 0.08, 0.06, 0.12), SMALL_DISTANT],
    "vehicle": [(0.15, 0.3, 0.1, 0.2), SMALL_DISTANT],
}
SHAPES = ("natural", "library", "plausible", "mismatched")
SHAPE_WEIGHTS = (0.3, 0.35, 0.2, 0.15)

# How a natural or plausible box is sized (draw_box; plausible_boxes derives the manifest's ranges from
# the same constants): its bottom edge stands on the ground between just below the horizon and the image's
# bottom edge, depth = (bottom - HORIZON) / GROUND_DEPTH scales the class's HEIGHT_AT_NEAR, times a
# factor drawn from NATURAL_SCALE or PLAUSIBLE_SCALE; a plausible box longer than LONG_ASPECT is a lower
# one; w and h are clipped to BOX_SIZE. Library boxes are used as the library writes them.
BOTTOM = (0.56, 0.98)
HORIZON, GROUND_DEPTH = 0.45, 0.55
NATURAL_SCALE = (0.8, 1.2)
PLAUSIBLE_SCALE = (0.5, 1.5)
LONG_ASPECT = 1.5
BOX_SIZE = (0.03, 0.7)

SKY = {"day": ([0.35, 0.55, 0.85], [0.7, 0.82, 0.95]),
       "dusk": ([0.25, 0.2, 0.45], [0.95, 0.55, 0.3]),
       "night": ([0.01, 0.01, 0.04], [0.05, 0.06, 0.12])}


def _depth(bottom):
    return (bottom - HORIZON) / GROUND_DEPTH


def _plausible_height(kind, depth, scale, aspect):
    h = HEIGHT_AT_NEAR[kind] * depth * scale
    if aspect > LONG_ASPECT:   # a long object is a low one (a vehicle side-on, a cyclist side-on)
        h *= LONG_ASPECT / aspect ** 0.5 / 1.22
    return h


def _clipped(h, aspect):
    """(w, h) of a box of height h and aspect w/h, each clipped to BOX_SIZE."""
    h = float(np.clip(h, *BOX_SIZE))
    return float(np.clip(h * aspect, *BOX_SIZE)), h


def draw_box(rng, kind, shape):
    """(w, h, bottom) of a box for class kind; shape is one of SHAPES."""
    bottom = rng.uniform(*BOTTOM)
    depth = _depth(bottom)
    if shape == "library":
        entry = LIBRARY_BOXES[kind][rng.integers(len(LIBRARY_BOXES[kind]))]
        if entry[0] == "scaled":
            h = rng.uniform(entry[1], entry[2])
            w = h * rng.uniform(entry[3], entry[4])
        else:
            w, h = rng.uniform(entry[0], entry[1]), rng.uniform(entry[2], entry[3])
        # The library puts box centres at 0.5..0.8 (and the feet below the horizon).
        cy = rng.uniform(max(0.5, 0.49 + h / 2), 0.82)
        return float(w), float(h), float(min(cy + h / 2, 0.99))
    if shape == "plausible":
        lo, hi = PLAUSIBLE_ASPECT[kind]
        aspect = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        h = _plausible_height(kind, depth, rng.uniform(*PLAUSIBLE_SCALE), aspect)
    else:
        like = kind
        if shape == "mismatched":
            others = [k for k in ASPECT if k != kind]
            like = others[rng.integers(len(others))]
        h = HEIGHT_AT_NEAR[like] * depth * rng.uniform(*NATURAL_SCALE)
        aspect = rng.uniform(*ASPECT[like])
    w, h = _clipped(h, aspect)
    return w, h, bottom


def _library_extent(entry):
    """(wmin, wmax, hmin, hmax) of a LIBRARY_BOXES entry."""
    if entry[0] == "scaled":
        _, hmin, hmax, fmin, fmax = entry
        return hmin * fmin, hmax * fmax, hmin, hmax
    return entry


def plausible_boxes():
    """Per class, the box sizes and aspects the model may be asked for (model.json's labels[0].plausible):
    w and h bound every natural, plausible and library box draw_box makes for the class (the extremes of
    its draws, which are monotone in each drawn number); aspect (w / h) is the class's PLAUSIBLE_ASPECT,
    inside which every natural box lies. Mismatched boxes (another class's shape, drawn to test critics)
    and the library boxes outside the class's plausible aspects (SMALL_DISTANT's 0.06 x 0.03 pedestrian)
    are trained on but not declared plausible. Rounded inwards to 4 decimals, so a declared range never
    exceeds what is drawn."""
    depths = [_depth(b) for b in BOTTOM]
    out = {}
    for kind, (lo, hi) in PLAUSIBLE_ASPECT.items():
        assert lo <= ASPECT[kind][0] and ASPECT[kind][1] <= hi, f"{kind}: natural aspects outside the plausible ones"
        natural = [_clipped(HEIGHT_AT_NEAR[kind] * d * s, a) for d in depths for s in NATURAL_SCALE for a in ASPECT[kind]]
        aspects = sorted({lo, hi, min(max(LONG_ASPECT, lo), hi)})
        plausible = [_clipped(_plausible_height(kind, d, s, a), a) for d in depths for s in PLAUSIBLE_SCALE for a in aspects]
        extents = [_library_extent(e) for e in LIBRARY_BOXES[kind]]
        library = [(wmin, hmin) for wmin, _, hmin, _ in extents] + [(wmax, hmax) for _, wmax, _, hmax in extents]
        ws = [w for w, _ in natural + plausible + library]
        hs = [h for _, h in natural + plausible + library]
        out[kind] = {"w": _inwards(min(ws), max(ws)), "h": _inwards(min(hs), max(hs)), "aspect": [lo, hi]}
    return out


def _inwards(lo, hi, digits=4):
    scale = 10 ** digits
    return [float(np.ceil(lo * scale - 1e-9) / scale), float(np.floor(hi * scale + 1e-9) / scale)]


SMALL_SIDE = 10 / 64   # shape="small": a box of the mixture whose shorter side is under 10 px of the 64-px frame


def draw_condition(rng, hazard=None, weather=None, time_of_day=None, shape=None):
    """Draws a condition; the box is placed on or beside the road. shape (default: drawn with
    SHAPE_WEIGHTS): "natural" (the class's typical box, sized by perspective), "library" (the
    scenario library's ranges for the class), "plausible" (any aspect plausible for the class),
    "mismatched" (another class's typical box: for testing that class comes from the pixels),
    "small" (the default mixture's draws whose box is under SMALL_SIDE on its shorter side, every class but none:
    where the critic is weakest)."""
    if shape == "small":
        while True:
            kind = hazard if hazard is not None else HAZARDS[1 + rng.integers(len(HAZARDS) - 1)]
            cond = draw_condition(rng, kind, weather, time_of_day)
            if min(cond["hazardW"], cond["hazardH"]) < SMALL_SIDE:
                return cond
    hazard = hazard if hazard is not None else HAZARDS[rng.integers(len(HAZARDS))]
    weather = weather if weather is not None else WEATHERS[rng.integers(len(WEATHERS))]
    time_of_day = time_of_day if time_of_day is not None else TIMES_OF_DAY[rng.integers(len(TIMES_OF_DAY))]
    kind = hazard if hazard != "none" else HAZARDS[1 + rng.integers(len(HAZARDS) - 1)]
    if shape is None:
        shape = SHAPES[rng.choice(len(SHAPES), p=SHAPE_WEIGHTS)]
    w, h, bottom = draw_box(rng, kind, shape)
    depth = float(np.clip((bottom - 0.45) / 0.55, 0.05, 1))
    cy = bottom - h / 2
    cx = rng.uniform(0.5 - 0.38 * depth - 0.05, 0.5 + 0.38 * depth + 0.05)
    cx = float(np.clip(cx, w / 2, 1 - w / 2))
    return {"hazard": hazard, "weather": weather, "timeOfDay": time_of_day,
            "hazardCx": float(cx), "hazardCy": float(np.clip(cy, h / 2, 1 - h / 2)),
            "hazardW": float(w), "hazardH": float(h)}


def _mix(img, mask, color, alpha=1.0):
    a = np.clip(mask, 0, 1)[None] * alpha
    img *= (1 - a)
    img += a * np.asarray(color, np.float32)[:, None, None]


def _ellipse(X, Y, cx, cy, rx, ry, soft):
    d = ((X - cx) / max(rx, 1e-6)) ** 2 + ((Y - cy) / max(ry, 1e-6)) ** 2
    return np.clip((1 - d) / soft, 0, 1)


def _rect(X, Y, x0, y0, x1, y1, soft):
    return (np.clip((X - x0) / soft, 0, 1) * np.clip((x1 - X) / soft, 0, 1)
            * np.clip((Y - y0) / soft, 0, 1) * np.clip((y1 - Y) / soft, 0, 1))


def _bar(X, Y, xa, ya, xb, yb, half_width, soft=0.6):
    """A thick line segment from (xa, ya) to (xb, yb), pixel units."""
    dx, dy = xb - xa, yb - ya
    length2 = max(dx * dx + dy * dy, 1e-6)
    t = np.clip(((X - xa) * dx + (Y - ya) * dy) / length2, 0, 1)
    d = np.hypot(X - (xa + t * dx), Y - (ya + t * dy))
    return np.clip((half_width - d) / soft + 0.5, 0, 1)


def _draw_hazard(img, X, Y, kind, box, rng, s):
    """Draws the hazard so that it touches all four sides of box (x0, y0, x1, y1 in pixels),
    at its natural proportions with parts adapted to the box; returns (silhouette, lights), lights
    being the mask of lamps that stay bright at night."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    aspect = w / h
    sp = 0.6                                 # edge softness in pixels (2x render)
    silhouette = np.zeros_like(X)
    lights = np.zeros_like(X)

    def put(mask, color):
        nonlocal silhouette
        _mix(img, mask, color)
        silhouette = np.maximum(silhouette, mask)

    def R(a, b, c, d):
        return _rect(X, Y, a, b, c, d, sp)

    def E(ex, ey, rx, ry):
        return _ellipse(X, Y, ex, ey, max(rx, 0.5), max(ry, 0.5), 0.35)

    if kind == "pedestrian":
        coat = rng.choice([[0.8, 0.1, 0.1], [0.1, 0.3, 0.8], [0.9, 0.8, 0.1], [0.2, 0.6, 0.3], [0.85, 0.85, 0.85]])
        skin, trousers = [0.85, 0.65, 0.5], [0.15, 0.15, 0.25]
        bw = min(w, 0.42 * h)                          # body width at natural proportions
        put(R(cx - 0.38 * bw, y0 + 0.19 * h, cx + 0.38 * bw, y0 + 0.6 * h), coat)                 # torso
        leg_w = max(0.14 * bw, 0.9)
        if w <= bw * 1.05:
            put(R(cx - 0.36 * bw, y0 + 0.58 * h, cx - 0.04 * bw, y1), trousers)
            put(R(cx + 0.04 * bw, y0 + 0.58 * h, cx + 0.36 * bw, y1), trousers)
            put(R(x0, y0 + 0.2 * h, x0 + 0.14 * bw + 0.5, y0 + 0.55 * h), coat)                   # arms at the sides
            put(R(x1 - 0.14 * bw - 0.5, y0 + 0.2 * h, x1, y0 + 0.55 * h), coat)
        else:
            # A wider box: walking stride (feet apart) and arms out, up to the box's sides.
            stride = min(w / 2, 0.45 * h) - leg_w
            put(_bar(X, Y, cx - 0.15 * bw, y0 + 0.6 * h, cx - stride, y1 - leg_w, leg_w), trousers)
            put(_bar(X, Y, cx + 0.15 * bw, y0 + 0.6 * h, cx + stride, y1 - leg_w, leg_w), trousers)
            put(R(cx - stride - leg_w, y1 - 2 * leg_w, cx - stride + leg_w, y1), trousers)
            put(R(cx + stride - leg_w, y1 - 2 * leg_w, cx + stride + leg_w, y1), trousers)
            arm_w = max(0.06 * h, 0.7)
            hand = max(0.05 * h, 0.8)
            put(_bar(X, Y, cx, y0 + 0.25 * h, x0 + hand, y0 + 0.3 * h, arm_w), coat)
            put(_bar(X, Y, cx, y0 + 0.25 * h, x1 - hand, y0 + 0.3 * h, arm_w), coat)
            put(E(x0 + hand, y0 + 0.3 * h, hand, hand), skin)
            put(E(x1 - hand, y0 + 0.3 * h, hand, hand), skin)
        put(E(cx, y0 + 0.1 * h, min(0.24 * bw, 0.1 * h) + 0.3, 0.1 * h), skin)                   # head
    elif kind == "cyclist":
        frame = rng.choice([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.4, 0.9], [0.85, 0.85, 0.85]])
        hivis, skin, tyre = [0.95, 0.85, 0.2], [0.85, 0.65, 0.5], [0.06, 0.06, 0.06]
        head_r = min(0.08 * h, 0.25 * w)
        if aspect < 0.75:
            # Seen from behind: one wheel edge-on, handlebar across the box, rider above it.
            wheel_w = max(min(0.1 * h, 0.3 * w), 1.0)
            put(E(cx, y1 - 0.22 * h, wheel_w, 0.22 * h), tyre)
            put(R(x0, y0 + 0.44 * h, x1, y0 + 0.44 * h + max(0.06 * h, 1.2)), [0.2, 0.2, 0.2])                      # handlebar
            rw = min(0.6 * w, 0.3 * h)
            put(R(cx - rw / 2, y0 + 0.14 * h, cx + rw / 2, y0 + 0.52 * h), hivis)                   # back, hi-vis
            put(R(cx - rw / 2, y0 + 0.5 * h, cx - rw / 2 + max(0.22 * rw, 0.7), y0 + 0.72 * h), [0.15, 0.15, 0.25])
            put(R(cx + rw / 2 - max(0.22 * rw, 0.7), y0 + 0.5 * h, cx + rw / 2, y0 + 0.72 * h), [0.15, 0.15, 0.25])
            put(R(cx - 0.15 * wheel_w, y0 + 0.5 * h, cx + 0.15 * wheel_w + 0.5, y1 - 0.3 * h), frame)
        else:
            # Side-on: two wheels at the bottom corners, frame, rider leaning to the handlebar.
            r = min(0.26 * w, 0.34 * h)
            flip = rng.random() < 0.5
            for wx in (x0 + r, x1 - r):
                ring = E(wx, y1 - r, r, r) * (1 - _ellipse(X, Y, wx, y1 - r, 0.62 * r, 0.62 * r, 0.35))
                put(ring, tyre)
            fw = max(0.06 * h, 0.9)
            seat_x = cx - 0.15 * w if not flip else cx + 0.15 * w
            bar_x = x1 - r * 1.1 if not flip else x0 + r * 1.1
            put(_bar(X, Y, x0 + r, y1 - r, cx, y1 - r, fw), frame)
            put(_bar(X, Y, cx, y1 - r, x1 - r, y1 - r, fw), frame)
            put(_bar(X, Y, cx, y1 - r, seat_x, y1 - 2.1 * r, fw), frame)
            put(_bar(X, Y, x1 - r if not flip else x0 + r, y1 - r, bar_x, y1 - 2.2 * r, fw), frame)
            top = y0 + 2 * head_r
            put(_bar(X, Y, seat_x, y1 - 2.2 * r, cx, top + 0.1 * h, max(0.1 * h, 0.8)), hivis)       # rider's back
            put(_bar(X, Y, cx, top + 0.15 * h, bar_x, y1 - 2.2 * r, max(0.04 * h, 0.6)), hivis)      # arm
            put(_bar(X, Y, seat_x, y1 - 2.1 * r, cx, y1 - r, max(0.05 * h, 0.7)), [0.15, 0.15, 0.25])  # leg
            put(E(cx + (0.05 * w if not flip else -0.05 * w), y0 + head_r, head_r, head_r), skin)
            return silhouette, lights
        put(E(cx, y0 + head_r, head_r, head_r), skin)
    elif kind == "animal":
        fur = rng.choice([[0.45, 0.3, 0.15], [0.6, 0.45, 0.3], [0.3, 0.2, 0.12], [0.5, 0.4, 0.3]])
        flip = rng.random() < 0.5
        hs = min(0.3 * h, 0.32 * w)                       # head size keeps its natural scale
        hx = x1 - hs / 2 if not flip else x0 + hs / 2     # head at the front, up top
        body_x0, body_x1 = (x0, x1 - 0.45 * hs) if not flip else (x0 + 0.45 * hs, x1)
        body_y, body_ry = y0 + 0.45 * h, 0.19 * h
        bl = body_x1 - body_x0
        put(E((body_x0 + body_x1) / 2, body_y, bl / 2, body_ry), fur)                                  # body
        neck_x = body_x1 - 0.12 * bl if not flip else body_x0 + 0.12 * bl
        put(_bar(X, Y, neck_x, body_y, hx, y0 + hs * 0.55, max(0.09 * h, 0.7)), fur)                  # neck
        put(E(hx, y0 + hs * 0.6, hs / 2, hs * 0.4), fur)                                               # head
        ear_x = hx - 0.2 * hs if not flip else hx + 0.2 * hs
        put(E(ear_x, y0 + hs * 0.18, 0.14 * hs, 0.18 * hs), fur)                                       # ear
        leg_w = max(min(0.045 * h, 0.08 * bl), 0.9)
        for f in (0.12, 0.3, 0.68, 0.86):
            lx = body_x0 + f * bl
            put(R(lx - leg_w, body_y, lx + leg_w, y1), [c * 0.85 for c in fur])                        # legs
    elif kind == "debris":
        grey = rng.uniform(0.22, 0.5)
        tint = rng.choice([[1.1, 1.0, 0.8], [1.0, 1.0, 1.0], [1.2, 0.95, 0.7]])
        col = [grey * t for t in tint]
        if aspect < 1.2 and rng.random() < 0.7:
            if rng.random() < 0.55:
                # A tyre standing on its tread, seen at an angle.
                put(E(cx, (y0 + y1) / 2, w / 2, h / 2), [0.07, 0.07, 0.07])
                put(E(cx, (y0 + y1) / 2, 0.28 * w, 0.3 * h), [0.35, 0.35, 0.37])
                put(E(cx, (y0 + y1) / 2, 0.16 * w, 0.17 * h), [0.1, 0.1, 0.1])
            else:
                # A crate or box with slats.
                wood = [0.5 * grey / 0.35, 0.38 * grey / 0.35, 0.22 * grey / 0.35]
                put(R(x0, y0, x1, y1), wood)
                for f in (0.33, 0.66):
                    _mix(img, R(x0, y0 + f * h - 0.04 * h - 0.3, x1, y0 + f * h + 0.04 * h + 0.3), [c * 0.6 for c in wood])
        else:
            # A scattered pile, low and irregular, touching the four sides.
            rx = min(0.3 * w, 0.7 * h)
            put(E(x0 + rx * 0.9, y1 - 0.35 * h, rx * 0.9, 0.35 * h), col)
            put(E(x1 - rx * 0.8, y1 - 0.3 * h, rx * 0.8, 0.3 * h), [c * 0.9 for c in col])
            px = rng.uniform(x0 + 0.3 * w, x1 - 0.3 * w)
            put(E(px, y0 + 0.5 * h, min(0.25 * w, 0.8 * h), 0.5 * h), [c * 1.1 for c in col])
            for _ in range(3):
                qx = rng.uniform(x0 + 0.15 * w, x1 - 0.15 * w)
                put(E(qx, y1 - 0.25 * h, rng.uniform(0.08, 0.18) * w, 0.25 * h), [c * rng.uniform(0.7, 1.2) for c in col])
            put(R(x0 + 0.1 * w, y1 - 0.2 * h, x1 - 0.1 * w, y1), [c * 0.75 for c in col])
    elif kind == "cone":
        n = int(np.clip(round(aspect / 0.8), 1, 4))       # a wide box holds several cones side by side
        cw = w / n
        for i in range(n):
            c0 = x0 + i * cw
            ccx = c0 + cw / 2
            body = min(cw, 0.75 * h)                      # a cone's natural width
            v = (Y - y0) / h
            half = (0.08 + 0.42 * np.clip(v, 0, 1)) * body
            tri = np.clip((half - np.abs(X - ccx)) / sp + 0.5, 0, 1) * (v >= 0) * (v < 0.9)
            put(tri, [1.0, 0.45, 0.05])
            put(tri * R(c0, y0 + 0.4 * h, c0 + cw, y0 + 0.55 * h), [0.95, 0.95, 0.95])              # reflective band
            put(R(c0 + 0.02 * cw if n > 1 else c0, y0 + 0.86 * h, c0 + cw - (0.02 * cw if n > 1 else 0), y1), [0.9, 0.4, 0.05])
    elif kind == "vehicle":
        paint = rng.choice([[0.7, 0.1, 0.1], [0.8, 0.8, 0.8], [0.1, 0.2, 0.5], [0.2, 0.2, 0.2], [0.9, 0.9, 0.3], [0.2, 0.45, 0.25]])
        glass, black, red = [0.15, 0.2, 0.25], [0.05, 0.05, 0.05], [1.0, 0.15, 0.1]
        if aspect <= 1.8:
            # From behind: car (wide), van or lorry (narrower, taller cabin).
            cabin = 0.4 if aspect > 1.0 else 0.5
            put(R(x0, y0 + (cabin - 0.05) * h, x1, y0 + 0.88 * h), paint)                            # body
            inset = 0.15 if aspect > 1.0 else 0.04
            put(R(x0 + inset * w, y0, x1 - inset * w, y0 + cabin * h), paint)                        # cabin
            put(R(x0 + (inset + 0.07) * w, y0 + 0.07 * h, x1 - (inset + 0.07) * w, y0 + (cabin - 0.06) * h), glass)
            put(R(x0 + 0.05 * w, y0 + 0.85 * h, x0 + 0.25 * w, y1), black)                          # tyres
            put(R(x1 - 0.25 * w, y0 + 0.85 * h, x1 - 0.05 * w, y1), black)
            tl = R(x0 + 0.03 * w, y0 + 0.56 * h, x0 + 0.18 * w, y0 + 0.68 * h) + R(x1 - 0.18 * w, y0 + 0.56 * h, x1 - 0.03 * w, y0 + 0.68 * h)
            put(tl, red)
            lights = tl
        else:
            # Side-on: long body, cabin with side windows, two wheels, a lamp at each end.
            flip = rng.random() < 0.5
            r = min(0.2 * h, 0.1 * w)
            put(R(x0, y0 + 0.38 * h, x1, y1 - 0.9 * r), paint)
            c0, c1 = (x0 + 0.22 * w, x0 + 0.75 * w) if not flip else (x0 + 0.25 * w, x0 + 0.78 * w)
            put(R(c0, y0, c1, y0 + 0.42 * h), paint)
            mid = (c0 + c1) / 2
            put(R(c0 + 0.04 * w, y0 + 0.08 * h, mid - 0.015 * w, y0 + 0.36 * h), glass)
            put(R(mid + 0.015 * w, y0 + 0.08 * h, c1 - 0.04 * w, y0 + 0.36 * h), glass)
            for wx in (x0 + 0.2 * w, x1 - 0.2 * w):
                put(E(wx, y1 - r, r, r), black)
            rear = R(x0, y0 + 0.45 * h, x0 + 0.04 * w + 0.5, y0 + 0.6 * h) if not flip else R(x1 - 0.04 * w - 0.5, y0 + 0.45 * h, x1, y0 + 0.6 * h)
            front = R(x1 - 0.04 * w - 0.5, y0 + 0.45 * h, x1, y0 + 0.6 * h) if not flip else R(x0, y0 + 0.45 * h, x0 + 0.04 * w + 0.5, y0 + 0.6 * h)
            put(rear, red)
            put(front, [1.0, 0.95, 0.7])
            lights = rear
    return silhouette, lights


def render(cond, rng, size=64, hide_object=False):
    """Renders one scene for cond; returns float32 [3, size, size] in [0, 1]. hide_object: the same scene (the
    same draws from rng) with the object left out, to measure how visible the object is (visibility())."""
    s = size * 2
    Y, X = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    horizon = s * rng.uniform(0.4, 0.47)
    tod, weather = cond["timeOfDay"], cond["weather"]
    img = np.zeros((3, s, s), np.float32)

    # Sky: vertical gradient, greyed by overcast weather.
    top, bottom = (np.asarray(c, np.float32) for c in SKY[tod])
    t = np.clip(Y / horizon, 0, 1)[None]
    sky = top[:, None, None] * (1 - t) + bottom[:, None, None] * t
    if weather in ("rain", "snow"):
        sky = 0.4 * sky + 0.6 * sky.mean(0, keepdims=True) * (0.8 if weather == "rain" else 1.1)
    img[:] = sky

    # Ground and road in perspective: depth 0 at the horizon, 1 at the bottom edge.
    depth = np.clip((Y - horizon) / (s - horizon), 1e-3, 1)
    ground = Y > horizon
    verge = np.array(rng.choice([[0.25, 0.45, 0.15], [0.4, 0.45, 0.2], [0.45, 0.38, 0.25]]), np.float32)
    if weather == "snow":
        verge = np.array([0.88, 0.9, 0.95], np.float32)
    _mix(img, ground.astype(np.float32), verge)
    curve = rng.uniform(-0.6, 0.6) if rng.random() < 0.6 else 0.0
    centre = s * (0.5 + rng.uniform(-0.05, 0.05)) + curve * s * (1 - depth) ** 2
    half_width = s * rng.uniform(0.42, 0.55) * depth
    across = (X - centre) / half_width                                  # -1..1 across the road
    road = ground * np.clip((1 - np.abs(across)) * half_width / 1.5, 0, 1)
    asphalt = rng.uniform(0.28, 0.4)
    road_color = [asphalt, asphalt, asphalt * 1.05]
    if weather == "snow":
        road_color = [0.6, 0.6, 0.65]
    _mix(img, road, road_color)
    # Lane markings: solid edges, dashed centre; dash period follows distance = 1/depth.
    line_w = 0.035
    edges = ground * np.clip((line_w - np.abs(np.abs(across) - 0.9)) / line_w * 2, 0, 1)
    dashes = (np.floor(6.0 / depth + rng.uniform(0, 2)) % 2 == 0)
    middle = ground * dashes * np.clip((line_w - np.abs(across)) / line_w * 2, 0, 1)
    marking = [0.9, 0.9, 0.85] if weather != "snow" else [0.75, 0.75, 0.75]
    _mix(img, edges + middle, marking, 0.9)

    # Hazard, drawn into its box.
    hazard_mask = lamps = np.zeros_like(X)
    box = None
    if cond["hazard"] != "none":
        cx, cy, w, h = (cond[k] * s for k in ("hazardCx", "hazardCy", "hazardW", "hazardH"))
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        canvas = img.copy() if hide_object else img
        shadow = _ellipse(X, Y, cx, box[3], w * 0.55, h * 0.06 + 1, 0.5) * ground
        _mix(canvas, shadow, [0.05, 0.05, 0.05], 0.5)
        hazard_mask, lamps = _draw_hazard(canvas, X, Y, cond["hazard"], box, rng, s)

    # Lighting: dusk dims the scene; at night only headlights and street lights reach it.
    if tod != "day":
        ambient = 0.55 if tod == "dusk" else 0.12
        light = np.full_like(X, ambient) * ground + (~ground) * 1.0
        use_street_lights = tod == "night" and rng.random() < 0.5
        if use_street_lights:
            for d in (0.2, 0.4, 0.7, 1.0):
                ly = horizon + d * (s - horizon)
                side = 1 if rng.random() < 0.5 else -1
                lx = centre[int(min(ly, s - 1)), 0] + side * 1.1 * s * rng.uniform(0.42, 0.55) * d
                pool = _ellipse(X, Y, lx - side * 0.4 * s * d, ly, 0.45 * s * d + 2, 0.14 * s * d + 2, 1.5)
                light += 0.8 * pool * ground
                pole = _rect(X, Y, lx - 0.6, ly - 0.45 * s * d, lx + 0.6, ly, 0.5)
                _mix(img, pole, [0.2, 0.2, 0.2])
                light = np.maximum(light, pole * 0.6)
                lamp = _ellipse(X, Y, lx, ly - 0.45 * s * d, 1.5 + 2 * d, 1.5 + 2 * d, 0.8)
                _mix(img, lamp, [1.0, 0.85, 0.5])
                light = np.maximum(light, lamp * 1.5)
        else:
            # Ego headlights: a cone from the bottom centre that fades with distance.
            beam = np.clip(1 - np.abs((X - s / 2) / (0.25 * s + 0.6 * s * (1 - depth))), 0, 1)
            light += (1.3 if tod == "night" else 0.5) * beam * depth ** 1.5 * ground
        img *= np.clip(light, 0, 1.8)[None]
        if tod == "night" and box is not None and cond["hazard"] == "vehicle" and not hide_object:
            _mix(img, np.clip(lamps, 0, 1), [1.0, 0.2, 0.1])     # lamps stay lit

    # Weather on top of the lit scene.
    if weather == "fog":
        # Fog thickens with distance; the far road fades into a grey veil.
        thickness = np.where(ground, np.clip(1.15 - depth, 0, 1), 1.0) * rng.uniform(0.7, 0.95)
        veil = {"day": 0.75, "dusk": 0.5, "night": 0.12}[tod]
        _mix(img, thickness, [veil, veil, veil * 1.02])
    elif weather == "rain":
        streaks = np.zeros_like(X)
        for _ in range(60):
            x, y, L = rng.uniform(0, s), rng.uniform(0, s), rng.uniform(6, 14)
            t_along = np.clip(((X - x) * 0.3 + (Y - y)) / L, 0, 1)
            dist = np.abs((X - x) - 0.3 * (Y - y))
            streaks = np.maximum(streaks, (dist < 0.7) * (Y >= y) * (Y <= y + L) * (t_along >= 0))
        level = 0.75 if tod == "day" else 0.35
        _mix(img, streaks, [level, level, level * 1.1], 0.45)
        img *= 0.85
    elif weather == "snow":
        flakes = np.zeros_like(X)
        for _ in range(70):
            flakes = np.maximum(flakes, _ellipse(X, Y, rng.uniform(0, s), rng.uniform(0, s), 1.2, 1.2, 0.6))
        _mix(img, flakes, [0.95, 0.95, 1.0], 0.85 if tod != "night" else 0.5)

    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    img = img.reshape(3, size, 2, size, 2).mean((2, 4))
    return np.clip(img, 0, 1).astype(np.float32)


def visibility(cond, seed, size=64):
    """How visible cond's object is in its render from np.random.default_rng(seed): the largest change, in 0..1
    units over all pixels and channels, between that render and the same scene without the object (None: no
    object). An unlit pedestrian far off in fog at night changes the frame by a few grey levels."""
    if cond["hazard"] == "none":
        return None
    full = render(cond, np.random.default_rng(seed), size)
    empty = render(cond, np.random.default_rng(seed), size, hide_object=True)
    return float(np.abs(full - empty).max())


def sample(rng, size=64, **fixed):
    cond = draw_condition(rng, **fixed)
    return render(cond, rng, size), cond
