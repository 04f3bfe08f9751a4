"""Renders road scenes for bench/search with the procedural generator the shipped road models were trained on
(training/procedural/road.py): the simulator a failure search can run against while the shipped diffusion
package is an interim one.

stdin: a JSON array of {"seed": int, "index": int, "parameters": {hazard, weather, timeOfDay, hazardCx, ...}}
stdout: for each entry, 3 x 64 x 64 bytes (planar RGB, 8 bits, as a PNG would store it).
Each scene's random details (road, colours, noise) come from (seed, index) alone, so runs are reproducible.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "training"))
from procedural.road import render  # noqa: E402

requests = json.load(sys.stdin)
out = sys.stdout.buffer
for request in requests:
    rng = np.random.default_rng([int(request["seed"]), int(request["index"])])
    image = render(request["parameters"], rng, 64)
    out.write(np.round(image * 255).astype(np.uint8).tobytes())
out.flush()
