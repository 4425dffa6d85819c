"""Synthesis transforms, named and parametrised as Albumentations (2.x) and torchvision v2
name them, applied with Pillow and numpy (no Django).

A recipe lists transforms as {"name": "GaussianBlur", "params": {"sigma": [0.5, 2.0]},
"p": 1.0}. Each parameter is a range [low, high] drawn uniformly per image, a single
number, or "match": drawn per image so that the characteristic the transform moves
(GaussianBlur -> sharpness, GaussNoise -> noise, ...) follows dev's measured distribution
(see matching.py). What was applied to each image is recorded as Albumentations'
ReplayCompose does: [{"name": ..., "applied": true, "params": {"sigma": 1.73}}, ...].

Differences from the libraries, on purpose: GaussNoise draws one standard deviation per
image from std_range (fractions of 255, as Albumentations 2.x) and adds the same noise to
every channel; TemplateTransform blends with img_weight = 1 - template_weight.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from mlstrat.datasets.images import open_image


class RecipeError(ValueError):
    """A recipe that cannot run; the message says why, in the recipe's words."""


@dataclass(frozen=True)
class Param:
    name: str  # as the recipe writes it, e.g. "std_range"
    low: float  # the widest range accepted
    high: float
    default: tuple[float, float]
    record: str  # the name of the drawn value in the per-image record, e.g. "std"
    integer: bool = False
    # The characteristic this parameter moves, and how (see matching.py), when matchable.
    matches: str = ""
    model: str = ""  # "ratio" (after = before * g(p)) or "shift" (after = before + g(p))
    grid: tuple[float, ...] = ()


@dataclass(frozen=True)
class Spec:
    name: str
    params: tuple[Param, ...]
    doc: str
    needs_overlays: bool = False
    extra: dict = field(default_factory=dict)


SPECS = {
    spec.name: spec
    for spec in [
        Spec(
            "GaussianBlur",
            (
                Param(
                    "sigma",
                    0.0,
                    10.0,
                    (0.5, 2.0),
                    "sigma",
                    matches="sharpness",
                    model="ratio",
                    grid=(0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, 8),
                ),
            ),
            "Gaussian blur of standard deviation sigma (pixels).",
        ),
        Spec(
            "GaussNoise",
            (
                Param(
                    "std_range",
                    0.0,
                    1.0,
                    (0.02, 0.1),
                    "std",
                    matches="noise",
                    model="shift",
                    grid=(0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
                ),
            ),
            "Additive Gaussian noise; std as a fraction of 255.",
        ),
        Spec(
            "Rotate",
            (Param("limit", -180.0, 180.0, (-15.0, 15.0), "angle"),),
            "Rotation by an angle in degrees (counter-clockwise), corners filled with black.",
        ),
        Spec(
            "RandomBrightnessContrast",
            (
                Param(
                    "brightness_limit",
                    -1.0,
                    1.0,
                    (-0.2, 0.2),
                    "beta",
                    matches="brightness",
                    model="shift",
                    grid=(-0.6, -0.4, -0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3, 0.4, 0.6),
                ),
                Param(
                    "contrast_limit",
                    -1.0,
                    3.0,
                    (-0.2, 0.2),
                    "contrast",
                    matches="contrast",
                    model="ratio",
                    grid=(-0.9, -0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, 0, 0.25, 0.5, 1),
                ),
            ),
            "out = (1 + contrast) * img + beta * 255, clipped (brightness_by_max).",
        ),
        Spec(
            "RandomGamma",
            (Param("gamma_limit", 10.0, 500.0, (80.0, 120.0), "gamma"),),
            "out = 255 * (img / 255) ** (gamma / 100).",
        ),
        Spec(
            "ImageCompression",
            (Param("quality_range", 1.0, 100.0, (20.0, 60.0), "quality", integer=True),),
            "JPEG re-encoding at a quality (1-100).",
        ),
        Spec(
            "Downscale",
            (
                Param(
                    "scale_range",
                    0.05,
                    1.0,
                    (0.25, 0.5),
                    "scale",
                    matches="sharpness",
                    model="ratio",
                    grid=(0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                ),
            ),
            "Down-scaled by scale then up again to the original size (bilinear both ways).",
        ),
        Spec(
            "TemplateTransform",
            (Param("template_weight", 0.0, 1.0, (0.2, 0.4), "template_weight"),),
            "Blend with an image of the recipe's overlay set (the car-noise analogue): "
            "out = (1 - template_weight) * img + template_weight * template.",
            needs_overlays=True,
        ),
    ]
}

MATCH = "match"


def clean_transforms(transforms) -> list[dict]:
    """Check a recipe's transforms and fill defaults; raises RecipeError naming the problem."""
    if not isinstance(transforms, list) or not transforms:
        raise RecipeError("A recipe needs at least one transform.")
    if len(transforms) > 10:
        raise RecipeError("At most 10 transforms.")
    cleaned = []
    for position, transform in enumerate(transforms, 1):
        if not isinstance(transform, dict) or transform.get("name") not in SPECS:
            raise RecipeError(f"Transform {position}: name one of {', '.join(SPECS)}.")
        spec = SPECS[transform["name"]]
        given = transform.get("params") or {}
        if not isinstance(given, dict):
            raise RecipeError(f"{spec.name}: params is an object.")
        unknown = set(given) - {p.name for p in spec.params}
        if unknown:
            raise RecipeError(
                f"{spec.name}: unknown parameter {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(p.name for p in spec.params)}."
            )
        params = {}
        matched = 0
        for param in spec.params:
            value = given.get(param.name, list(param.default))
            params[param.name] = _clean_value(spec, param, value)
            matched += params[param.name] == MATCH
        if matched > 1:
            raise RecipeError(f"{spec.name}: match one parameter at most.")
        probability = transform.get("p", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise RecipeError(f"{spec.name}: p is a probability between 0 and 1.")
        if not 0 <= probability <= 1:
            raise RecipeError(f"{spec.name}: p is a probability between 0 and 1.")
        cleaned.append({"name": spec.name, "params": params, "p": float(probability)})
    return cleaned


def _clean_value(spec: Spec, param: Param, value):
    if value == MATCH:
        if not param.matches:
            raise RecipeError(f"{spec.name}: {param.name} cannot be matched to dev.")
        return MATCH
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise RecipeError(f'{spec.name}: {param.name} is a number, a range [low, high] or "match".')
    try:
        low, high = float(value[0]), float(value[1])
    except OverflowError:  # an integer beyond any float: beyond the range too
        low = high = math.inf
    if low > high:
        raise RecipeError(f"{spec.name}: {param.name} has its low end above its high end.")
    if not (param.low <= low and high <= param.high):  # NaN included (JSON cannot store it)
        raise RecipeError(
            f"{spec.name}: {param.name} must stay within {param.low:g}..{param.high:g}."
        )
    return [low, high]


def needs_overlays(transforms: list[dict]) -> bool:
    return any(SPECS[t["name"]].needs_overlays for t in transforms)


def matched_params(transforms: list[dict]) -> list[tuple[int, Param]]:
    """(position, parameter) of every parameter drawn to match dev."""
    return [
        (position, param)
        for position, transform in enumerate(transforms)
        for param in SPECS[transform["name"]].params
        if transform["params"][param.name] == MATCH
    ]


# ------------------------------------------------------------------ drawing parameters


def draw(param: Param, value, rng: np.random.Generator):
    low, high = value
    if param.integer:
        return int(rng.integers(int(round(low)), int(round(high)) + 1))
    return float(low if low == high else rng.uniform(low, high))


# ------------------------------------------------------------------ applying


def as_working_image(image: Image.Image) -> Image.Image:
    """Grey images stay grey, everything else becomes RGB (alpha dropped)."""
    if image.mode == "L":
        return image
    if image.mode in ("1", "I", "I;16", "F", "LA"):
        return image.convert("L")
    return image.convert("RGB")


def _lut(image: Image.Image, values: np.ndarray) -> Image.Image:
    table = np.clip(np.rint(values), 0, 255).astype(np.uint8).tolist()
    return image.point(table * len(image.getbands()))


def apply_one(
    name: str, image: Image.Image, params: dict, rng: np.random.Generator, template=None
) -> Image.Image:
    """One transform with its drawn parameters (the record's values)."""
    if name == "GaussianBlur":
        sigma = params["sigma"]
        return image.filter(ImageFilter.GaussianBlur(sigma)) if sigma > 0 else image
    if name == "GaussNoise":
        std = params["std"] * 255
        if std <= 0:
            return image
        pixels = np.asarray(image, dtype=np.float32)
        noise = rng.normal(0.0, std, pixels.shape[:2]).astype(np.float32)
        if pixels.ndim == 3:
            noise = noise[..., None]
        return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), image.mode)
    if name == "Rotate":
        fill = 0 if image.mode == "L" else (0, 0, 0)
        return image.rotate(params["angle"], resample=Image.BILINEAR, fillcolor=fill)
    if name == "RandomBrightnessContrast":
        alpha, beta = 1 + params["contrast"], params["beta"] * 255
        return _lut(image, np.arange(256, dtype=np.float64) * alpha + beta)
    if name == "RandomGamma":
        gamma = params["gamma"] / 100
        return _lut(image, 255 * (np.arange(256, dtype=np.float64) / 255) ** gamma)
    if name == "ImageCompression":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(params["quality"]))
        buffer.seek(0)
        with open_image(buffer) as decoded:
            decoded.load()
            return decoded.convert(image.mode)
    if name == "Downscale":
        width, height = image.size
        small = (max(1, round(width * params["scale"])), max(1, round(height * params["scale"])))
        return image.resize(small, Image.BILINEAR).resize((width, height), Image.BILINEAR)
    if name == "TemplateTransform":
        if template is None:
            raise RecipeError("TemplateTransform needs an overlay set.")
        overlay = as_working_image(template)
        if overlay.mode != image.mode:
            overlay = overlay.convert(image.mode)
        if overlay.size != image.size:
            overlay = overlay.resize(image.size, Image.BILINEAR)
        return Image.blend(image, overlay, params["template_weight"])
    raise RecipeError(f"Unknown transform {name}.")
