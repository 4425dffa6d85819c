"""Measured image characteristics: pure functions of pixels (numpy and Pillow, no Django).

Every image is measured on its luma L = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, what
Pillow's "L" mode uses), as floats, at a working scale of at most 128 px on the longer
side (a box reduction by an integer factor of the image the thumbnail pass decoded; images
that small are measured as they are), so a 4000-px photo and a 200-px crop are compared at
about one scale and a photo costs about a millisecond. Width, height and aspect are those
of the original image.

- brightness: mean of L (0..255).
- contrast: RMS contrast, the standard deviation of L (population).
- sharpness: variance of the Laplacian (4-neighbour kernel [[0,1,0],[1,-4,1],[0,1,0]]) over
  the interior pixels, as OpenCV's cv2.Laplacian(ksize=1).var() on the valid region.
  Low values: blurry.
- noise: Immerkær's estimate of the noise standard deviation (1996, "Fast noise variance
  estimation"): sqrt(pi/2) / (6 (W-2)(H-2)) times the sum of |L * N| over the interior,
  N = [[1,-2,1],[-2,4,-2],[1,-2,1]] (a kernel blind to edges and flat gradients).
- colourfulness: Hasler and Süsstrunk (2003): rg = R - G, yb = (R + G) / 2 - B,
  sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2); 0 for grey images.
- width, height (pixels) and aspect = width / height.

Images smaller than 3x3 have no interior: their sharpness and noise are 0.

Images are measured in batches, at their working scale (one numpy pass over every image of
one shape), so the thumbnail pass pays a few microseconds per image rather than one numpy
call per figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
NOISE_FACTOR = math.sqrt(math.pi / 2) / 6
# Images are measured at most this many pixels on their longer side (see working_scale).
WORKING_SIDE = 128
# Images wait, at their working scale, for a batch of their shape: at most BATCH_SIZE
# images and BATCH_PIXELS pixels are measured by one numpy pass (its float arrays, half a
# MB each, stay in a core's cache: a batch of a million pixels ran half as fast).
BATCH_SIZE = 256
BATCH_PIXELS = 1 << 17


@dataclass(frozen=True)
class Characteristic:
    name: str
    label: str
    unit: str
    higher: str  # "dev is <higher> than train" when dev's values are larger
    lower: str
    log_scale: bool = False  # histograms on log(1 + x): values span orders of magnitude
    integer: bool = False


CHARACTERISTICS = [
    Characteristic("brightness", "Brightness", "mean luma, 0–255", "brighter", "darker"),
    Characteristic(
        "contrast", "Contrast", "RMS contrast (std of luma)", "more contrasted", "flatter"
    ),
    Characteristic(
        "sharpness",
        "Sharpness",
        "variance of the Laplacian",
        "sharper",
        "blurrier",
        log_scale=True,
    ),
    Characteristic(
        "noise", "Noise", "estimated noise std (Immerkær)", "noisier", "cleaner", log_scale=True
    ),
    Characteristic(
        "colourfulness",
        "Colourfulness",
        "Hasler–Süsstrunk",
        "more colourful",
        "greyer",
    ),
    Characteristic("width", "Width", "pixels", "wider", "narrower", integer=True),
    Characteristic("height", "Height", "pixels", "taller", "shorter", integer=True),
    Characteristic("aspect", "Aspect", "width / height", "wider in shape", "taller in shape"),
]
NAMES = [c.name for c in CHARACTERISTICS]
BY_NAME = {c.name: c for c in CHARACTERISTICS}


def luma_of(rgb: np.ndarray) -> np.ndarray:
    """Luma of an (..., 3) array of R, G, B, as float32."""
    return rgb.astype(np.float32) @ LUMA


def _mean_var(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image (first axis): mean and population variance, from the sum and the sum of
    squares (one pass each; the squares summed by einsum without a temporary array)."""
    flat = values.reshape(values.shape[0], -1)
    size = flat.shape[1]
    mean = flat.sum(axis=1, dtype=np.float64) / size
    squares = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) / size
    return mean, np.maximum(squares - mean * mean, 0.0)


def measure_stack(luma: np.ndarray, rgb: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Brightness, contrast, sharpness, noise and colourfulness of N images of one shape.

    `luma` is (N, H, W); `rgb` is (N, H, W, 3) or None for grey images. Pixels as float32,
    sums in float64."""
    luma = np.ascontiguousarray(luma, dtype=np.float32)
    count, height, width = luma.shape
    brightness, variance = _mean_var(luma)
    out = {"brightness": brightness, "contrast": np.sqrt(variance)}
    if height >= 3 and width >= 3:
        centre = luma[:, 1:-1, 1:-1]
        cross = luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1]
        cross += luma[:, 1:-1, :-2]
        cross += luma[:, 1:-1, 2:]
        laplacian = cross - 4 * centre
        out["sharpness"] = _mean_var(laplacian)[1]
        residual = luma[:, :-2, :-2] + luma[:, :-2, 2:]
        residual += luma[:, 2:, :-2]
        residual += luma[:, 2:, 2:]
        residual -= 2 * cross
        residual += 4 * centre
        np.abs(residual, out=residual)
        out["noise"] = (
            NOISE_FACTOR
            * residual.reshape(count, -1).sum(axis=1, dtype=np.float64)
            / ((height - 2) * (width - 2))
        )
    else:
        out["sharpness"] = np.zeros(count)
        out["noise"] = np.zeros(count)
    if rgb is None:
        out["colourfulness"] = np.zeros(count)
    else:
        # Straight from the channels as stored (bytes, usually), each difference made in
        # float32 as it is read: no float copy of the whole R G B stack.
        red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        rg = np.subtract(red, green, dtype=np.float32)
        yb = np.add(red, green, dtype=np.float32)
        yb *= 0.5
        yb -= blue
        rg_mean, rg_var = _mean_var(rg)
        yb_mean, yb_var = _mean_var(yb)
        out["colourfulness"] = np.sqrt(rg_var + yb_var) + 0.3 * np.hypot(rg_mean, yb_mean)
    return out


def _array(image: Image.Image, channels: int) -> np.ndarray:
    # Straight from the pixel bytes: cheaper than numpy's array interface on tiny images.
    width, height = image.size
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(shape)


def _grey_or_rgb(image: Image.Image) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(luma, None) of a grey image, (None, R G B) of a colour one: its luma is left to
    the caller (a batch computes it once for all its images)."""
    if image.mode == "L":
        return _array(image, 1), None
    if image.mode in ("1", "I;16", "I", "F"):
        return np.asarray(image.convert("F")), None
    if image.mode == "LA":
        return _array(image.getchannel("L"), 1), None
    # A grey image stored as RGB needs no check: its rg and yb are 0, so is its colour.
    return None, _array(image if image.mode == "RGB" else image.convert("RGB"), 3)


def working_scale(image: Image.Image) -> Image.Image:
    """The image reduced (box filter, an integer factor) to at most WORKING_SIDE pixels on
    its longer side: every image is measured at about the same scale, at a fraction of the
    cost of a full thumbnail."""
    factor = math.ceil(max(image.size) / WORKING_SIDE)
    return image.reduce(factor) if factor > 1 else image


def measure_image(image: Image.Image, original_size: tuple[int, int] | None = None) -> dict:
    """Every characteristic of one decoded image (see the module's docstring): a batch of
    one, so an image measured alone and in the thumbnail pass's batches is measured by
    the same code."""
    batch = Batch()
    batch.add(0, image, original_size)
    return batch.results()[0]


def _row(values: dict, width: int, height: int) -> dict:
    values.update(width=int(width), height=int(height), aspect=width / height if height else 0.0)
    return values


class Batch:
    """Collects decoded images and measures them in batches of one shape.

    `add(key, image, original_size)` takes the image as decoded (it is not kept: its
    working scale is copied as arrays); `results()` measures what waits and returns
    {key: characteristics}."""

    def __init__(self):
        self._done: dict = {}
        self._waiting: dict[tuple, list] = {}

    def add(self, key, image: Image.Image, original_size: tuple[int, int] | None = None) -> None:
        width, height = original_size or image.size
        grey, rgb = _grey_or_rgb(working_scale(image))
        pixels = grey if rgb is None else rgb
        group = self._waiting.setdefault((pixels.shape, rgb is not None), [])
        group.append((key, width, height, pixels))
        if len(group) >= min(BATCH_SIZE, BATCH_PIXELS // (pixels.shape[0] * pixels.shape[1])):
            self._flush(group)
            group.clear()

    def _flush(self, group: list) -> None:
        if not group:
            return
        pixels = np.stack([item[3] for item in group])
        if pixels.ndim == 4:  # colour: (N, H, W, 3), their luma in one pass
            luma, rgb = luma_of(pixels), pixels
        else:
            luma, rgb = pixels, None
        values = measure_stack(luma, rgb)
        for index, (key, width, height, _) in enumerate(group):
            self._done[key] = _row(
                {name: float(column[index]) for name, column in values.items()}, width, height
            )

    def results(self) -> dict:
        for group in self._waiting.values():
            self._flush(group)
        self._waiting = {}
        return self._done
