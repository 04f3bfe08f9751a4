"""Condition vectors as the product serves them: a calibrated scalar field is fed its calibration map's value
(model.json `condition.fields[].calibration`; src/models/condition.ts calibratedValue and encodeCondition are the
same rules), so training and evaluation sample what a request really feeds the model."""
import numpy as np


def _through(points, requested):
    return float(np.interp(requested, [p[0] for p in points], [p[1] for p in points]))


def calibrated_value(field, requested, params=None):
    """The value fed to the model for a requested one: the field's calibration map (piecewise-linear, the end
    points' values beyond them, clamped to the map's encodedRange, else the field's range; with byValue, the map of
    params' value of that field when it has one; with byValue.across, that value's maps placed along a scalar field
    (`at`), each read at the request and interpolated linearly by params' value of that field, the end maps beyond
    them), or the request itself when there is none. src/models/condition.ts calibratedValue is the same rule."""
    calibration = field.get("calibration") or {}
    params = params or {}
    lo, hi = calibration.get("encodedRange") or field["range"]
    by = calibration.get("byValue")
    selector = params.get(by["field"]) if by else None
    across = ((by.get("across") or {}).get("maps") or {}).get(selector) if by else None
    position = params.get(by["across"]["field"]) if across else None
    if across and isinstance(position, (int, float)):
        value = float(np.interp(position, across["at"], [_through(points, requested) for points in across["points"]]))
    else:
        points = (by["points"].get(selector) if by else None) or calibration.get("points")
        value = _through(points, requested) if points else requested
    return float(min(max(value, lo), hi))


def served_vector(layout, fields, params):
    """layout.encode(params) with every calibrated scalar field's slot holding its map's value, (v - lo) / (hi - lo)
    of the field's range (below 0 where the map feeds under the field's floor). fields: the manifest's."""
    vector = layout.encode(params)
    for field in fields:
        if field["kind"] == "scalar" and field.get("calibration") and field["name"] in params:
            lo, hi = field["range"]
            vector[field["offset"]] = (calibrated_value(field, params[field["name"]], params) - lo) / (hi - lo)
    return vector


# Sampling-time feedback (model.json `condition.fields[].feedback`, kind "circle-contrast"; src/diffusion/feedback.ts is
# the same rule): a meter reads the value each step's x0 estimate shows inside the circle label, and the circle's
# deviation from the median of its surrounding ring is scaled toward the request.
LEVEL_FLOOR = 0.05


def _distances(size, circle):
    Y, X = (np.mgrid[0:size, 0:size].astype(np.float64) + 0.5) / size
    cx, cy, radius = circle
    return np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) / radius


def ring_level(image, circle, ring, d=None):
    d = _distances(image.shape[1], circle) if d is None else d
    values = image[(d > ring[0]) & (d < ring[1])]
    return float(np.median(values)) if values.size else float(image.mean())


def bilinear(image, xs, ys):
    """image sampled at pixel coordinates (xs, ys) (pixel centres at integers), edges clamped (contrast_meter reads
    its windows with it too)."""
    h, w = image.shape
    xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    x0, y0 = np.minimum(xs.astype(int), w - 2), np.minimum(ys.astype(int), h - 2)
    fx, fy = xs - x0, ys - y0
    return ((1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x0 + 1])
            + fy * ((1 - fx) * image[y0 + 1, x0] + fx * image[y0 + 1, x0 + 1]))


def meter_features(image, circle, class_index, spec, level=None):
    """The meter's input for one square image in 0..1 (kind "circle-contrast"; docs/model-package.md)."""
    size = image.shape[1]
    cx, cy, radius = circle
    level = ring_level(image, circle, spec["ring"]) if level is None else level
    divisor = max(level, LEVEL_FLOOR)
    n, half = spec["window"]["samples"], spec["window"]["halfWidth"]
    t = np.linspace(-half, half, n)
    xs = np.broadcast_to((cx + t[None, :] * radius) * size - 0.5, (n, n))
    ys = np.broadcast_to((cy + t[:, None] * radius) * size - 0.5, (n, n))
    window = bilinear(image, xs, ys).reshape(-1) / divisor - 1.0
    onehot = [1.0 if k == class_index else 0.0 for k in range(len(spec["classes"]))]
    tissue = image[image > spec["tissueFloor"]]
    quantiles = (np.percentile(tissue, spec["tissueQuantiles"]) / divisor if tissue.size
                 else np.zeros(len(spec["tissueQuantiles"])))
    return np.concatenate([window, [radius / spec["radiusScale"], level], onehot, quantiles]).astype(np.float32)


def scale_circle(image, circle, level, k, feather, d=None):
    d = _distances(image.shape[1], circle) if d is None else d
    weight = np.clip((1 + feather - d) / feather, 0, 1)
    return level + (image - level) * (1 + (k - 1) * weight)


def feedback_factor(requested, read, spec):
    ratio = min(max(requested / max(read, LEVEL_FLOOR), 1 / spec["maxRatio"]), spec["maxRatio"])
    return ratio ** spec["strength"]


def feedback_targets(manifest, params):
    """[(spec, [(index, circle, class_index, requested)])] per scalar field with feedback, for the samples it holds."""
    circle = next((rule for rule in manifest.get("labels", []) if rule["kind"] == "circle"), None)
    out = []
    for field in manifest["condition"]["fields"]:
        spec = field.get("feedback") if field["kind"] == "scalar" else None
        if not spec or not circle:
            continue
        holds = spec.get("holds") or spec["classes"]
        held = [(i, (p[circle["cx"]], p[circle["cy"]], p[circle["radius"]]), spec["classes"].index(p[circle["class"]]), p[field["name"]])
                for i, p in enumerate(params) if p.get(circle["class"]) in holds and field["name"] in p]
        if held:
            out.append((spec, held))
    return out


def feedback_x0(manifest, targets, x0, step, steps, meters):
    """The x0 estimates x0 ([N, 1, H, W] numpy, model units) after the feedback of step `step` of `steps`: the change
    to add, or None where no field's feedback acts at this step. meters: spec["meter"] -> callable(features [M, F]) ->
    [M] readings."""
    lo, hi = manifest["image"]["valueRange"]
    delta = None
    for spec, held in targets:
        if step < spec["fromStep"] * steps:
            continue
        delta = np.zeros_like(x0, dtype=np.float64) if delta is None else delta
        images = [(np.clip(x0[i, 0] + delta[i, 0], lo, hi) - lo) / (hi - lo) for i, _, _, _ in held]
        # each circle's distance map and ring level, once for reading and scaling
        distances = [_distances(img.shape[1], c) for img, (_, c, _, _) in zip(images, held)]
        levels = [ring_level(img, c, spec["ring"], d) for img, (_, c, _, _), d in zip(images, held, distances)]
        read = meters[spec["meter"]](np.stack([meter_features(img, c, k, spec, level)
                                               for img, (_, c, k, _), level in zip(images, held, levels)]))
        for img, (i, c, _, requested), value, level, d in zip(images, held, read, levels, distances):
            scaled = scale_circle(img, c, level, feedback_factor(requested, float(value), spec), spec["feather"], d)
            delta[i, 0] += (scaled - img) * (hi - lo)
    return delta
