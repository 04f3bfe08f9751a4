"""The scenario library's scenarios (scenarios/*.yaml), drawn as the service draws them.

draw_parameters follows src/scenarios/draw.ts (the counter-based SHA-256 uniforms, sweep digits,
halton with the seed's Cranley-Patterson rotation, truncated normal by inverse CDF, scaled and
given parameters), so evaluation samples the boxes, weathers and times the product asks the model for.
"""
import glob
import hashlib
import os
from statistics import NormalDist

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS_DIR = os.path.join(REPO, "scenarios")
PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97]
_N = NormalDist()


def uniform_at(seed, index, stream, draw=0):
    digest = hashlib.sha256(f"rareforge/v1|{seed}|{index}|{stream}|{draw}".encode()).digest()
    high = int.from_bytes(digest[0:4], "big") >> 5
    low = int.from_bytes(digest[4:8], "big") >> 6
    return (high * 67108864 + low) / 9007199254740992


def radical_inverse(n, base):
    inverse, fraction, rest = 0.0, 1.0 / base, n
    while rest > 0:
        inverse += (rest % base) * fraction
        rest //= base
        fraction /= base
    return inverse


def truncated_normal_at(u, mean, std, lo, hi):
    a, b = _N.cdf((lo - mean) / std), _N.cdf((hi - mean) / std)
    if b - a < 1e-12:
        return min(hi, max(lo, mean))
    p = min(1 - 1e-16, max(1e-16, a + u * (b - a)))
    return min(hi, max(lo, mean + std * _N.inv_cdf(p)))


def normalise(parameters):
    """YAML parameters -> {name: distribution dict}; a bare value is kind fixed."""
    out = {}
    for name, d in parameters.items():
        out[name] = d if isinstance(d, dict) and "kind" in d else {"kind": "fixed", "value": d}
    return out


def _draw_number(d, u):
    """One number from a fixed, uniform, truncatedNormal or scaled (its factor) distribution."""
    if d["kind"] == "fixed":
        return d["value"]
    if d.get("mean") is None or d.get("std") is None:
        return d["min"] + u() * (d["max"] - d["min"])
    return truncated_normal_at(u(), d["mean"], d["std"], d["min"], d["max"])


def draw_parameters(spec, seed, index):
    params = normalise(spec["parameters"])
    drawn, sweep_rest, halton_dim = {}, index, 0
    for name, d in params.items():
        kind = d["kind"]
        u = lambda: uniform_at(seed, index, name)  # noqa: E731
        if kind == "fixed":
            drawn[name] = d["value"]
        elif kind == "given":
            drawn[name] = None     # holds its place; drawn below, once the value it depends on is known
        elif kind == "choice":
            weights = d.get("weights") or [1] * len(d["values"])
            target, picked = u() * sum(weights), len(d["values"]) - 1
            for i, w in enumerate(weights):
                target -= w
                if target < 0:
                    picked = i
                    break
            while weights[picked] == 0 and picked > 0:
                picked -= 1
            drawn[name] = d["values"][picked]
        elif kind == "uniform":
            drawn[name] = d["min"] + u() * (d["max"] - d["min"])
        elif kind == "truncatedNormal":
            drawn[name] = truncated_normal_at(u(), d["mean"], d["std"], d["min"], d["max"])
        elif kind == "integer":
            drawn[name] = d["min"] + min(d["max"] - d["min"], int(u() * (d["max"] - d["min"] + 1)))
        elif kind == "sweep":
            radix = len(d["values"])
            drawn[name] = d["values"][sweep_rest % radix]
            sweep_rest //= radix
        elif kind == "halton":
            base = PRIMES[halton_dim % len(PRIMES)]
            halton_dim += 1
            shifted = (radical_inverse(index + 1, base) + uniform_at(seed, 0, f"halton:{name}")) % 1
            drawn[name] = d["min"] + shifted * (d["max"] - d["min"])
        elif kind == "scaled":
            drawn[name] = _draw_number(d, u)
        else:
            raise ValueError(f"{spec['name']}: unknown distribution kind {kind}")
    factors = {}
    for name, d in params.items():
        if d["kind"] == "scaled":
            factors[name] = d
        if d["kind"] != "given":
            continue
        case = {str(value): c for value, c in normalise(d["cases"]).items()}[str(drawn[d["of"]])]
        drawn[name] = _draw_number(case, lambda: uniform_at(seed, index, name))  # noqa: B023
        if case["kind"] == "scaled":
            factors[name] = case
    for name, d in factors.items():
        drawn[name] = d.get("offset", 0) + drawn[d["of"]] * drawn[name]
    return drawn


def scenarios(domain):
    """The library's scenarios of one domain ("automotive" or "medical"), by file name."""
    specs = []
    for path in sorted(glob.glob(os.path.join(SCENARIOS_DIR, "*.yaml"))):
        spec = yaml.safe_load(open(path))
        if spec.get("domain") == domain:
            specs.append(spec)
    return specs


def automotive_scenarios():
    return scenarios("automotive")


def road_cells(layout, per_cell, seed):
    """Every hazard x weather x timeOfDay cell of the road layout, per_cell conditions each, whose box (centre and
    size) is drawn by the automotive scenarios that ask for that hazard, in turn (hazard none: the empty-road
    control's box), with the cell's hazard, weather and time fixed (with_fixed). Returns [(condition, scenario
    name, "hazard/weather/time")]."""
    specs = automotive_scenarios()
    out = []
    for hazard in layout.field("hazard")["values"]:
        sources = [sp for sp in specs if hazard in values_of(sp, "hazard")]
        for weather in layout.field("weather")["values"]:
            for tod in layout.field("timeOfDay")["values"]:
                for j in range(per_cell):
                    spec = with_fixed(sources[j % len(sources)], hazard=hazard, weather=weather, timeOfDay=tod)
                    drawn = draw_parameters(spec, seed, len(out))
                    out.append((to_condition(drawn), spec["name"], f"{hazard}/{weather}/{tod}"))
    return out


def brain_cells(per_cell, seed):
    """Cells: (library scenario, pathology) for every pathology a medical scenario draws, per_cell draws each; each
    draw is the scenario's own (the indices whose pathology is the cell's). Returns [(condition, "scenario/pathology")]."""
    keys = ("pathology", "lesionX", "lesionY", "lesionRadius", "lesionContrast")
    out = []
    for spec in scenarios("medical"):
        for pathology in values_of(spec, "pathology"):
            found, index = 0, 0
            while found < per_cell:
                drawn = draw_parameters(spec, seed, index)
                index += 1
                if drawn["pathology"] != pathology:
                    continue
                out.append(({k: drawn[k] for k in keys}, f"{spec['name']}/{pathology}"))
                found += 1
    return out


def with_fixed(spec, **values):
    """The scenario with these parameters fixed (a cell's hazard, weather and time of day), so that the parameters
    given by them are drawn for the cell's values: small-distant-hazards-sweep draws each class its own box, and a
    pedestrian cell must get the pedestrian's box, not the box the sweep drew for debris at that index."""
    return {**spec, "parameters": {**spec["parameters"], **values}}


def values_of(spec, name):
    """The values a categorical parameter can take in a scenario."""
    d = normalise(spec["parameters"])[name]
    if d["kind"] == "fixed":
        return [d["value"]]
    if d["kind"] == "choice":
        weights = d.get("weights") or [1] * len(d["values"])
        return [v for v, w in zip(d["values"], weights) if w > 0]
    return list(d["values"])


def to_condition(drawn):
    """A drawn parameter set as a road condition (the road-hazards layout's field names)."""
    keys = ("hazard", "weather", "timeOfDay", "hazardCx", "hazardCy", "hazardW", "hazardH")
    cond = {k: drawn[k] for k in keys}
    for k in keys[3:]:
        cond[k] = float(min(1.0, max(0.0, cond[k])))
    return cond
