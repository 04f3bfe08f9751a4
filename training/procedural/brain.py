"""Procedural T2-weighted axial brain MRI slices with a labelled pathology (the medical domain).

Anatomy (head shape, cortical folding, ventricle size, bias field) varies freely; the
condition fixes the pathology type, its centre and radius (fractions of the width) and
its contrast. The pathology fills the circle (cx, cy, radius), so the circle's bounding
box and disk are the ground-truth box and mask. Images are float32 in [0, 1], [1, H, W];
the package maps [0, 1] -> [-1, 1] -> stored values 0..4095.

T2 appearance: CSF bright, grey matter brighter than white matter, skull dark, scalp
fat moderately bright. Tumour: heterogeneous core with a bright oedema rim. Acute-on-
subacute haemorrhage: dark core with a bright rim. Small lesions: a cluster of bright
white-matter foci (demyelination-like).
"""
import numpy as np

GENERATOR_VERSION = "1"

PATHOLOGIES = ["none", "tumour", "haemorrhage", "lesions"]
RADIUS_RANGE = (0.03, 0.15)     # fraction of the image width
CONTRAST_RANGE = (0.25, 1.0)    # 1 = textbook conspicuity, 0.25 = subtle

RADIUS_BY_PATHOLOGY = {"tumour": (0.06, 0.15), "haemorrhage": (0.03, 0.11), "lesions": (0.05, 0.13)}
# Where a lesion's centre lies: inside the ellipse about (cx, cy) with half-axes (rx - radius, ry - radius)
# (the brain's half-axes are about 0.33 x 0.4 of the width; this keeps the disk inside them).
LESION_REGION = {"cx": 0.5, "cy": 0.5, "rx": 0.3, "ry": 0.36}
# How many bright foci the "lesions" pathology scatters inside its circle (the others draw one).
LESION_FOCI = (4, 7)


def draw_condition(rng, pathology=None):
    """Draws a condition; the lesion centre is placed inside the brain parenchyma."""
    pathology = pathology if pathology is not None else PATHOLOGIES[rng.integers(len(PATHOLOGIES))]
    kind = pathology if pathology != "none" else PATHOLOGIES[1 + rng.integers(3)]
    radius = rng.uniform(*RADIUS_BY_PATHOLOGY[kind])
    angle, dist = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 1))
    region = LESION_REGION
    x = region["cx"] + np.cos(angle) * dist * (region["rx"] - radius)
    y = region["cy"] + np.sin(angle) * dist * (region["ry"] - radius)
    return {"pathology": pathology, "lesionX": float(x), "lesionY": float(y),
            "lesionRadius": float(radius), "lesionContrast": float(rng.uniform(*CONTRAST_RANGE))}


def plausible_circles():
    """Per pathology, the lesion geometry the model may be asked for (model.json's labels[0].plausible):
    the radius range draw_condition draws, the region its centre lies in (LESION_REGION) and, as a
    description, how many foci render draws inside the circle."""
    return {kind: {"radius": [float(lo), float(hi)], "within": dict(LESION_REGION),
                   "foci": list(LESION_FOCI) if kind == "lesions" else [1, 1]}
            for kind, (lo, hi) in RADIUS_BY_PATHOLOGY.items()}


def _smooth_noise(rng, s, cells):
    """Band-limited noise: a coarse random grid upsampled bilinearly."""
    g = rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, s, dtype=np.float32)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None] + rows[:, i + 1] * f[None]


def render(cond, rng, size=64):
    """Renders one slice for cond; returns float32 [1, size, size] in [0, 1]."""
    s = size * 2
    Y, X = (np.mgrid[0:s, 0:s].astype(np.float32) + 0.5) / s
    # Head: a slightly rotated ellipse; radial coordinate r = 1 on the outer scalp.
    cx, cy = 0.5 + rng.uniform(-0.02, 0.02), 0.5 + rng.uniform(-0.02, 0.02)
    ax, ay, rot = rng.uniform(0.38, 0.43), rng.uniform(0.44, 0.48), rng.uniform(-0.12, 0.12)
    dx, dy = X - cx, Y - cy
    u = (dx * np.cos(rot) + dy * np.sin(rot)) / ax
    v = (-dx * np.sin(rot) + dy * np.cos(rot)) / ay
    r, theta = np.sqrt(u ** 2 + v ** 2), np.arctan2(v, u)

    def band(r0, r1, soft=0.015):
        return np.clip((r - r0) / soft, 0, 1) * np.clip((r1 - r) / soft, 0, 1)

    img = np.zeros_like(X)
    img += 0.55 * band(0.93, 1.0)              # scalp fat
    img += 0.08 * band(0.86, 0.93)             # skull: no signal
    # Cortex boundary folds (gyri): radius modulated by a few harmonics.
    folds = sum(rng.uniform(0.006, 0.014) * np.sin(k * theta + rng.uniform(0, 6.3)) for k in (9, 13, 17, 23))
    brain_edge = 0.84 + folds
    csf_rim = np.clip((r - (brain_edge - 0.01)) / 0.01, 0, 1) * np.clip((0.86 - r) / 0.01, 0, 1)
    parenchyma = np.clip((brain_edge - 0.01 - r) / 0.01, 0, 1)
    grey_depth = rng.uniform(0.1, 0.14) + 0.4 * folds
    grey = parenchyma * np.clip((r - (brain_edge - grey_depth)) / 0.02, 0, 1)
    white = parenchyma - grey
    grey_level, white_level, csf_level = rng.uniform(0.55, 0.62), rng.uniform(0.38, 0.45), rng.uniform(0.85, 0.95)
    img += csf_level * csf_rim + grey_level * grey + white_level * white
    # Interhemispheric fissure: a thin CSF line along the midline.
    fissure = np.clip((0.012 - np.abs(u)) / 0.008, 0, 1) * (np.abs(v) > rng.uniform(0.35, 0.5)) * parenchyma
    img = img * (1 - fissure) + csf_level * fissure
    # Lateral ventricles: two tilted ellipses whose size varies with (simulated) age.
    vsize = rng.uniform(0.6, 1.4)
    ventricles = np.zeros_like(X)
    for side in (-1, 1):
        vx, vy = side * 0.1 * vsize, -0.08
        a = -side * 0.3   # frontal horns diverge anteriorly
        vu = ((u - vx) * np.cos(a) + (v - vy) * np.sin(a)) / (0.06 * vsize)
        vv = (-(u - vx) * np.sin(a) + (v - vy) * np.cos(a)) / (0.24 * vsize ** 0.5)
        ventricles = np.maximum(ventricles, np.clip((1 - vu ** 2 - vv ** 2) / 0.25, 0, 1))
    ventricles *= parenchyma
    img = img * (1 - ventricles) + csf_level * ventricles

    mask = np.zeros_like(X)
    if cond["pathology"] != "none":
        lx, ly, lr, contrast = cond["lesionX"], cond["lesionY"], cond["lesionRadius"], cond["lesionContrast"]
        d = np.sqrt((X - lx) ** 2 + (Y - ly) ** 2) / lr         # 1 on the labelled circle
        wobble = 1 + 0.08 * _smooth_noise(rng, s, 6)
        d = d * wobble
        mask = np.clip((1 - d) / 0.08, 0, 1) * (parenchyma + ventricles > 0.5)
        texture = _smooth_noise(rng, s, 12)
        base = img.copy()
        if cond["pathology"] == "tumour":
            oedema = np.clip((1 - d) / 0.1, 0, 1)
            core = np.clip((0.62 - d) / 0.08, 0, 1)
            target = (0.8 * oedema * (1 - core) + (0.5 + 0.12 * texture) * core
                      + 0.25 * core * np.clip((d - 0.4) / 0.08, 0, 1))  # enhancing-like core rim
            blend = oedema
        elif cond["pathology"] == "haemorrhage":
            core = np.clip((0.75 - d) / 0.08, 0, 1)
            rim = np.clip((1 - d) / 0.1, 0, 1) * (1 - core)
            target = (0.12 + 0.05 * texture) * core + 0.78 * rim
            blend = np.clip((1 - d) / 0.1, 0, 1)
        else:  # lesions: small bright foci scattered inside the circle
            foci = np.zeros_like(X)
            for _ in range(rng.integers(LESION_FOCI[0], LESION_FOCI[1] + 1)):
                fa, fd = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 1)) * 0.75
                fx, fy = lx + np.cos(fa) * fd * lr, ly + np.sin(fa) * fd * lr
                fr = lr * rng.uniform(0.18, 0.3)
                foci = np.maximum(foci, np.clip((1 - np.sqrt((X - fx) ** 2 + (Y - fy) ** 2) / fr) / 0.3, 0, 1))
            target = np.full_like(X, 0.85)
            blend = foci
        # Contrast scales how far the tissue moves towards the pathological signal.
        img = base + contrast * blend * (target - base) * (parenchyma + ventricles > 0.3)

    # Receive-coil bias field and Rician-like noise (magnitude of complex Gaussian).
    img *= 1 + 0.12 * _smooth_noise(rng, s, 2)
    sigma = rng.uniform(0.01, 0.025)
    img = np.sqrt((img + rng.normal(0, sigma, img.shape)) ** 2 + rng.normal(0, sigma, img.shape) ** 2)
    img = img.reshape(size, 2, size, 2).mean((1, 3))
    return np.clip(img, 0, 1).astype(np.float32)[None]


def ground_truth_mask(cond, size=64):
    """The labelled disk (lesionX, lesionY, lesionRadius) as a binary mask, as the manifest's labels say."""
    if cond["pathology"] == "none":
        return np.zeros((size, size), bool)
    Y, X = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    return (X - cond["lesionX"]) ** 2 + (Y - cond["lesionY"]) ** 2 <= cond["lesionRadius"] ** 2


def sample(rng, size=64, **fixed):
    cond = draw_condition(rng, **fixed)
    return render(cond, rng, size), cond
