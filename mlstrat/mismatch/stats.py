"""The numbers of the data-mismatch pages, as pure functions (no Django, no database).

Distances between two distributions of a characteristic (Kolmogorov–Smirnov, Wasserstein-1),
exact on samples and on two histograms over the same bins; the total variation distance of
two category frequencies; shares in two groups with Wilson intervals and the Newcombe
interval of their difference; and the plain-words sentence that ranks them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

from mlstrat.analytics.figures import Z95, wilson_interval

# The 97.5% quantile of the standard normal: two-sided 95% intervals.
Z975 = Z95

# KS statistic -> how a person says it. Below the last one the two look alike.
STRENGTH = [(0.5, "much "), (0.25, ""), (0.1, "slightly ")]
NEGLIGIBLE_KS = 0.1


# ------------------------------------------------------------------ samples


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical CDFs."""
    if not a or not b:
        raise ValueError("Both samples need at least one value.")
    xs, ys = sorted(a), sorted(b)
    gap = 0.0
    for value in sorted(set(xs) | set(ys)):
        fa = bisect.bisect_right(xs, value) / len(xs)
        fb = bisect.bisect_right(ys, value) / len(ys)
        gap = max(gap, abs(fa - fb))
    return gap


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """Wasserstein-1 (earth mover's) distance of two samples: the area between their
    empirical CDFs, in the values' own unit."""
    if not a or not b:
        raise ValueError("Both samples need at least one value.")
    xs, ys = sorted(a), sorted(b)
    points = sorted(set(xs) | set(ys))
    area = 0.0
    for left, right in zip(points, points[1:], strict=False):
        fa = bisect.bisect_right(xs, left) / len(xs)
        fb = bisect.bisect_right(ys, left) / len(ys)
        area += abs(fa - fb) * (right - left)
    return area


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, interpolating linearly (numpy's default)."""
    if not sorted_values:
        raise ValueError("No values.")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return quantile(sorted(values), 0.5)


# ------------------------------------------------------------------ histograms


def bin_edges(low: float, high: float, bins: int, *, log_scale: bool = False) -> list[float]:
    """`bins` bins from low to high: equal widths, or equal widths of log(1 + x)."""
    if bins < 1:
        raise ValueError("At least one bin.")
    if high <= low:
        high = low + 1.0
    if log_scale:
        a, b = math.log1p(max(low, 0.0)), math.log1p(max(high, 0.0))
        if b <= a:
            b = a + 1.0
        return [math.expm1(a + (b - a) * i / bins) for i in range(bins + 1)]
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def bin_index(value: float, edges: Sequence[float]) -> int:
    """Which bin of `edges` holds value (the last bin includes its right edge)."""
    index = bisect.bisect_right(edges, value) - 1
    return min(max(index, 0), len(edges) - 2)


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for value in values:
        counts[bin_index(value, edges)] += 1
    return counts


def _cdf(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    if total <= 0:
        raise ValueError("An empty histogram has no distribution.")
    running, out = 0, []
    for count in counts:
        running += count
        out.append(running / total)
    return out


def ks_binned(a: Sequence[int], b: Sequence[int]) -> float:
    """KS statistic of two histograms over the same bins (the CDFs compared at bin edges)."""
    return max(abs(x - y) for x, y in zip(_cdf(a), _cdf(b), strict=True))


def wasserstein_binned(a: Sequence[int], b: Sequence[int], edges: Sequence[float]) -> float:
    """Wasserstein-1 of two histograms over the same bins, each bin's mass at its centre."""
    cdf_a, cdf_b = _cdf(a), _cdf(b)
    area = 0.0
    for i in range(len(cdf_a) - 1):
        gap = (edges[i + 2] - edges[i]) / 2  # centre i to centre i + 1
        area += abs(cdf_a[i] - cdf_b[i]) * gap
    return area


def median_binned(counts: Sequence[int], edges: Sequence[float]) -> float:
    """The median of a histogram, interpolated within its bin."""
    total = sum(counts)
    if total <= 0:
        raise ValueError("An empty histogram has no median.")
    half, running = total / 2, 0
    for i, count in enumerate(counts):
        if count and running + count >= half:
            return edges[i] + (edges[i + 1] - edges[i]) * (half - running) / count
        running += count
    return edges[-1]


def total_variation(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Total variation distance of two category frequencies: half the sum of the absolute
    differences of their shares (0 = same mix, 1 = no category in common)."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        raise ValueError("Both frequencies need at least one count.")
    keys = set(a) | set(b)
    return sum(abs(a.get(k, 0) / total_a - b.get(k, 0) / total_b) for k in keys) / 2


# ------------------------------------------------------------------ shares


def share(k: int, n: int) -> dict:
    """k of n with its 95% Wilson interval (exact normal quantile); None figures for n = 0."""
    if n <= 0:
        return {"k": k, "n": n, "share": None, "low": None, "high": None}
    low, high = wilson_interval(k, n, z=Z975)
    return {"k": k, "n": n, "share": k / n, "low": low, "high": high}


def share_difference(k1: int, n1: int, k2: int, n2: int) -> dict:
    """Share 2 minus share 1 with Newcombe's hybrid score interval (his method 10), built
    from the two Wilson intervals; None when either group is empty."""
    first, second = share(k1, n1), share(k2, n2)
    if first["share"] is None or second["share"] is None:
        return {"difference": None, "low": None, "high": None}
    p1, l1, u1 = first["share"], first["low"], first["high"]
    p2, l2, u2 = second["share"], second["low"], second["high"]
    difference = p2 - p1
    return {
        "difference": difference,
        "low": difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
        "high": difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
    }


# ------------------------------------------------------------------ words


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def shift_sentence(
    *,
    subject: str,
    reference: str,
    higher: str,
    lower: str,
    ks: float,
    median_subject: float,
    median_reference: float,
    label: str,
    plural: bool = False,
) -> str:
    """ "dev is much blurrier than train (sharpness median 120 vs 850)" or "... look alike"."""
    verb = "are" if plural else "is"
    if ks < NEGLIGIBLE_KS or median_subject == median_reference:
        return (
            f"{subject} and {reference} look alike in {label.lower()} "
            f"(median {fmt(median_subject)} vs {fmt(median_reference)})"
        )
    strength = next(word for threshold, word in STRENGTH if ks >= threshold)
    direction = higher if median_subject > median_reference else lower
    return (
        f"{subject} {verb} {strength}{direction} than {reference} "
        f"({label.lower()} median {fmt(median_subject)} vs {fmt(median_reference)})"
    )
