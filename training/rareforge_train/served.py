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
