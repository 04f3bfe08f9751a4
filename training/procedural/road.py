"""Procedural road scenes with a labelled hazard (the automotive training domain).

Every scene is drawn from its condition: hazard class, weather, time of day and the
hazard's bounding box (fractions of the image). The box is exact ground truth: the
hazard is drawn to fill it. Rendering is at 2x and box-filtered down to the output
size, so edges are anti-aliased. Images are float32 RGB in [0, 1], shape [3, H, W].
"""
import numpy as np

GENERATOR_VERSION = "1"

HAZARDS = ["none", "pedestrian", "cyclist", "animal", "debris", "cone", "vehicle"]
WEATHERS = ["clear", "rain", "fog", "snow"]
TIMES_OF_DAY = ["day", "dusk", "night"]

# Width / height of each hazard's box: pedestrians are tall, debris is low and wide.
ASPECT = {"pedestrian": (0.35, 0.5), "cyclist": (0.6, 0.9), "animal": (1.1, 1.6),
          "debris": (1.6, 2.6), "cone": (0.5, 0.7), "vehicle": (1.1, 1.5)}
# Box height relative to the height it would have at the bottom of the image.
HEIGHT_AT_NEAR = {"pedestrian": 0.75, "cyclist": 0.7, "animal": 0.45,
                  "debris": 0.18, "cone": 0.3, "vehicle": 0.7}

SKY = {"day": ([0.35, 0.55, 0.85], [0.7, 0.82, 0.95]),
       "dusk": ([0.25, 0.2, 0.45], [0.95, 0.55, 0.3]),
       "night": ([0.01, 0.01, 0.04], [0.05, 0.06, 0.12])}


def draw_condition(rng, hazard=None, weather=None, time_of_day=None):
    """Draws a condition; the box is placed on or beside the road, sized by perspective."""
    hazard = hazard if hazard is not None else HAZARDS[rng.integers(len(HAZARDS))]
    weather = weather if weather is not None else WEATHERS[rng.integers(len(WEATHERS))]
    time_of_day = time_of_day if time_of_day is not None else TIMES_OF_DAY[rng.integers(len(TIMES_OF_DAY))]
    kind = hazard if hazard != "none" else HAZARDS[1 + rng.integers(len(HAZARDS) - 1)]
    # The box bottom sits on the ground between just below the horizon and the image bottom.
    bottom = rng.uniform(0.56, 0.98)
    depth = (bottom - 0.45) / 0.55
    h = np.clip(HEIGHT_AT_NEAR[kind] * depth * rng.uniform(0.8, 1.2), 0.05, 0.7)
    w = np.clip(h * rng.uniform(*ASPECT[kind]), 0.04, 0.7)
    cy = bottom - h / 2
    cx = rng.uniform(0.5 - 0.35 * depth, 0.5 + 0.35 * depth)
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


def _draw_hazard(img, X, Y, kind, box, rng, s):
    """Draws the hazard inside box (x0, y0, x1, y1 in pixels); returns its silhouette mask."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    u, v = (X - x0) / w, (Y - y0) / h  # box-local coordinates, 0..1
    silhouette = np.zeros_like(X)
    def put(mask, color):
        nonlocal silhouette
        _mix(img, mask, color)
        silhouette = np.maximum(silhouette, mask)
    if kind == "pedestrian":
        coat = rng.choice([[0.8, 0.1, 0.1], [0.1, 0.3, 0.8], [0.9, 0.8, 0.1], [0.2, 0.6, 0.3]])
        put(_ellipse(u, v, 0.5, 0.1, 0.22, 0.1, 0.3), [0.85, 0.65, 0.5])          # head
        put(_rect(u, v, 0.12, 0.2, 0.88, 0.6, 0.08), coat)                         # torso
        put(_rect(u, v, 0.15, 0.58, 0.45, 1.0, 0.08), [0.15, 0.15, 0.25])          # legs
        put(_rect(u, v, 0.55, 0.58, 0.85, 1.0, 0.08), [0.15, 0.15, 0.25])
    elif kind == "cyclist":
        frame = rng.choice([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.4, 0.9]])
        for cx in (0.2, 0.8):
            ring = _ellipse(u, v, cx, 0.8, 0.2, 0.2, 0.4) * (1 - _ellipse(u, v, cx, 0.8, 0.13, 0.13, 0.4))
            put(ring, [0.08, 0.08, 0.08])
        put(_rect(u, v, 0.2, 0.55, 0.8, 0.65, 0.1), frame)
        put(_rect(u, v, 0.38, 0.15, 0.62, 0.6, 0.1), [0.95, 0.85, 0.2])           # rider, hi-vis
        put(_ellipse(u, v, 0.5, 0.08, 0.12, 0.08, 0.3), [0.85, 0.65, 0.5])
    elif kind == "animal":
        fur = rng.choice([[0.45, 0.3, 0.15], [0.6, 0.45, 0.3], [0.3, 0.2, 0.12]])
        put(_ellipse(u, v, 0.45, 0.45, 0.38, 0.22, 0.3), fur)                      # body
        put(_ellipse(u, v, 0.88, 0.25, 0.12, 0.13, 0.3), fur)                      # head
        for lx in (0.15, 0.3, 0.58, 0.72):
            put(_rect(u, v, lx, 0.55, lx + 0.08, 1.0, 0.1), fur)
    elif kind == "debris":
        grey = rng.uniform(0.25, 0.5)
        for _ in range(4):
            cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.45, 0.7)
            put(_ellipse(u, v, cx, cy, rng.uniform(0.15, 0.3), rng.uniform(0.25, 0.35), 0.3),
                [grey * 1.1, grey, grey * 0.8])
        put(_rect(u, v, 0.05, 0.6, 0.95, 0.95, 0.1), [grey * 0.9, grey * 0.8, grey * 0.6])
    elif kind == "cone":
        tri = np.clip((1 - np.abs(u - 0.5) * 2 / np.clip(v, 0.05, 1) * 0.6) / 0.1, 0, 1) * (v >= 0) * (v < 0.88) * (u >= 0) * (u <= 1)
        put(tri, [1.0, 0.45, 0.05])
        put(tri * _rect(u, v, 0, 0.4, 1, 0.55, 0.05), [0.95, 0.95, 0.95])          # reflective band
        put(_rect(u, v, 0.0, 0.85, 1.0, 1.0, 0.08), [0.9, 0.4, 0.05])             # base
    elif kind == "vehicle":
        paint = rng.choice([[0.7, 0.1, 0.1], [0.8, 0.8, 0.8], [0.1, 0.2, 0.5], [0.2, 0.2, 0.2], [0.9, 0.9, 0.3]])
        put(_rect(u, v, 0.0, 0.35, 1.0, 0.88, 0.05), paint)                        # body
        put(_rect(u, v, 0.15, 0.0, 0.85, 0.4, 0.05), paint)                        # cabin
        put(_rect(u, v, 0.22, 0.07, 0.78, 0.35, 0.05), [0.15, 0.2, 0.25])          # rear window
        put(_rect(u, v, 0.05, 0.85, 0.25, 1.0, 0.05), [0.05, 0.05, 0.05])          # tyres
        put(_rect(u, v, 0.75, 0.85, 0.95, 1.0, 0.05), [0.05, 0.05, 0.05])
        put(_rect(u, v, 0.03, 0.45, 0.18, 0.6, 0.05), [1.0, 0.15, 0.1])            # tail lights
        put(_rect(u, v, 0.82, 0.45, 0.97, 0.6, 0.05), [1.0, 0.15, 0.1])
    return silhouette


def render(cond, rng, size=64):
    """Renders one scene for cond; returns float32 [3, size, size] in [0, 1]."""
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
    hazard_mask = np.zeros_like(X)
    box = None
    if cond["hazard"] != "none":
        cx, cy, w, h = (cond[k] * s for k in ("hazardCx", "hazardCy", "hazardW", "hazardH"))
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        shadow = _ellipse(X, Y, cx, box[3], w * 0.55, h * 0.06 + 1, 0.5) * ground
        _mix(img, shadow, [0.05, 0.05, 0.05], 0.5)
        hazard_mask = _draw_hazard(img, X, Y, cond["hazard"], box, rng, s)

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
        if tod == "night" and box is not None and cond["hazard"] == "vehicle":
            _mix(img, hazard_mask * _rect((X - box[0]) / (box[2] - box[0]), (Y - box[1]) / (box[3] - box[1]),
                                           0.0, 0.4, 1.0, 0.65, 0.05)
                 * (np.abs((X - box[0]) / (box[2] - box[0]) - 0.5) > 0.3), [1.0, 0.2, 0.1])

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


def sample(rng, size=64, **fixed):
    cond = draw_condition(rng, **fixed)
    return render(cond, rng, size), cond
