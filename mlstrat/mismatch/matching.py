"""Drawing a transform's parameter so that a characteristic follows dev's distribution
(pure, no Django).

Quantile matching on a measured response. Before a job runs, the transform is applied at
each value p of a grid to a few calibration images of the pool and the characteristic is
measured: the response g(p) is the median over those images of after / before ("ratio"
model: blur divides sharpness) or after - before ("shift": noise adds to the noise
estimate), made monotone. Then, for each output, a target t is drawn from dev's measured
distribution (its quantile at a uniform u), the source image's own value c0 is measured,
and p is read off the curve where g(p) = t / c0 (or t - c0), interpolating linearly. A
target the transform cannot reach (dev sharper than the source, say) is clamped to the end
of the grid and counted.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from .stats import quantile

QUANTILES = 201


def target_quantiles(values: Sequence[float], count: int = QUANTILES) -> list[float]:
    """`count` evenly spaced quantiles (0 to 1) of the target's measured values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("The target split has no measured values.")
    return [quantile(ordered, i / (count - 1)) for i in range(count)]


def draw_target(quantiles: Sequence[float], u: float) -> float:
    """The target distribution's value at probability u (0..1), between stored quantiles."""
    return quantile(quantiles, min(max(u, 0.0), 1.0))


def _median(values: list[float]) -> float:
    return quantile(sorted(values), 0.5)


def fit_response(
    *, model: str, before: Sequence[float], after: Sequence[Sequence[float]]
) -> list[float]:
    """g at each grid value: the median over calibration images of after / before (ratio)
    or after - before (shift), then made monotone in the direction of its two ends.

    `before[j]` is image j's value untouched; `after[k][j]` its value at grid point k."""
    if model not in ("ratio", "shift"):
        raise ValueError("model is ratio or shift")
    curve = []
    for values in after:
        if model == "ratio":
            pairs = [a / b for a, b in zip(values, before, strict=True) if b > 0]
            curve.append(_median(pairs) if pairs else 1.0)
        else:
            curve.append(_median([a - b for a, b in zip(values, before, strict=True)]))
    increasing = curve[-1] >= curve[0]
    monotone, best = [], None
    for value in curve:
        if best is None:
            best = value
        best = max(best, value) if increasing else min(best, value)
        monotone.append(best)
    return monotone


def invert(
    *, grid: Sequence[float], curve: Sequence[float], model: str, before: float, target: float
) -> tuple[float, bool]:
    """The parameter that takes an image measuring `before` to `target`, and whether the
    target was out of reach (the parameter is then the nearest end of the grid)."""
    if model == "ratio":
        if before <= 0:
            return grid[0], True
        wanted = target / before
    else:
        wanted = target - before
    increasing = curve[-1] >= curve[0]
    keys = list(curve) if increasing else [-v for v in curve]
    key = wanted if increasing else -wanted
    if key <= keys[0]:
        return grid[0], key < keys[0]
    if key >= keys[-1]:
        return grid[-1], key > keys[-1]
    right = bisect.bisect_left(keys, key)
    left = right - 1
    span = keys[right] - keys[left]
    fraction = 0.0 if span == 0 else (key - keys[left]) / span
    return grid[left] + (grid[right] - grid[left]) * fraction, False
