"""Scenario-style prompts: the automotive scenario library's hazard, weather and time-of-day values rendered
into prompt templates like a package's ("dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}")."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [
    "dashcam photo, a {hazard} on the road at {timeOfDay}, {weather}",
    "a {hazard} crossing a rural road at {timeOfDay} in {weather} weather, photorealistic, 35mm",
    "front camera frame of a motorway at {timeOfDay}, {weather}, {hazard} ahead in the ego lane",
]
NEGATIVE_PROMPTS = ["blurry, low quality, cartoon, watermark", "", "text, logo, distorted, oversaturated"]
# Words a scenario value stands for in a prompt ("none" means an empty road, "vehicle" a stalled car).
PROMPT_WORDS = {"none": "empty stretch", "vehicle": "stalled vehicle", "cone": "traffic cone"}


def parameter_values(field: str) -> list[str]:
    """Every value the automotive scenarios give a field, scalar or choice, in first-seen order."""
    seen: list[str] = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        if spec.get("domain") != "automotive":
            continue
        value = spec.get("parameters", {}).get(field)
        values = value.get("values", []) if isinstance(value, dict) else [value] if value is not None else []
        for v in values:
            if str(v) not in seen:
                seen.append(str(v))
    return seen


def scenario_prompts() -> list[str]:
    hazards = [PROMPT_WORDS.get(h, h) for h in parameter_values("hazard")]
    weathers = parameter_values("weather")
    times = parameter_values("timeOfDay")
    return [t.format(hazard=h, timeOfDay=d, weather=w) for t in TEMPLATES for h in hazards for d in times for w in weathers]
