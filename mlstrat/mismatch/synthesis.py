"""Synthesizing one output image from a job's plan (pure: Pillow and numpy, no Django).

Everything about output `index` is decided by (seed, index): which source image (a seeded
permutation of the pool, cycled), whether each transform applies, its parameters, and the
overlay image. A chunk run twice, or a job resumed after a dead worker, writes the same
bytes; the preview shows exactly the job's first outputs.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from . import matching
from .characteristics import measure_image
from .transforms import MATCH, SPECS, apply_one, as_working_image, draw, matched_params

CALIBRATION_IMAGES = 16
# The overfitting warning: a pool each of whose items is used this many times on average.
REUSE_WARNING = 5.0
PNG_LEVEL = 1


def rng_for(seed: int, index: int) -> np.random.Generator:
    # Philox is counter-based: keyed by (seed, index) directly, each output's stream is
    # independent and costs no seed-sequence hashing (a few microseconds per output).
    key = np.array([int(seed) & 0xFFFFFFFFFFFFFFFF, int(index)], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def source_position(*, seed: int, pool_size: int, index: int) -> int:
    """Which item of the pool output `index` starts from: a seeded permutation, cycled,
    so every source is used once before any is used twice."""
    if pool_size <= 0:
        raise ValueError("The pool is empty.")
    order = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7]).permutation(pool_size)
    return int(order[index % pool_size])


def source_positions(*, seed: int, pool_size: int, indices: Sequence[int]) -> list[int]:
    order = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7]).permutation(pool_size)
    return [int(order[i % pool_size]) for i in indices]


def calibrate(
    *,
    transforms: list[dict],
    images: Sequence[Image.Image],
    targets: dict[str, list[float]],
    seed: int,
) -> dict:
    """Fit the response curve of every matched parameter on calibration images.

    `targets` maps a characteristic to dev's quantiles. Returns {"<position>": {...}} with
    what a chunk needs to invert the curve."""
    fitted = {}
    working = [as_working_image(image) for image in images]
    for position, param in matched_params(transforms):
        transform = transforms[position]
        if param.matches not in targets:
            raise ValueError(f"No measured {param.matches} on dev to match.")
        before = [measure_image(image)[param.matches] for image in working]
        after = []
        for k, value in enumerate(param.grid):
            params = _middle_params(transform, {param.record: value})
            row = []
            for j, image in enumerate(working):
                rng = rng_for(seed, 10_000_000 + k * 1000 + j)
                row.append(
                    measure_image(apply_one(transform["name"], image, params, rng))[param.matches]
                )
            after.append(row)
        fitted[str(position)] = {
            "param": param.name,
            "record": param.record,
            "characteristic": param.matches,
            "model": param.model,
            "grid": list(param.grid),
            "curve": matching.fit_response(model=param.model, before=before, after=after),
            "target": targets[param.matches],
        }
    return fitted


def _middle_params(transform: dict, fixed: dict) -> dict:
    spec = SPECS[transform["name"]]
    params = {}
    for param in spec.params:
        value = transform["params"][param.name]
        if param.record in fixed:
            params[param.record] = fixed[param.record]
        elif value == MATCH:
            params[param.record] = 0.0
        else:
            params[param.record] = (value[0] + value[1]) / 2
    return params


def synthesize(
    *,
    plan: dict,
    index: int,
    source: Image.Image,
    overlay: Callable[[int], Image.Image] | None = None,
) -> tuple[Image.Image, list[dict]]:
    """Output `index` from its source image: the image and the record of what was applied,
    as Albumentations' ReplayCompose records it."""
    rng = rng_for(plan["seed"], index)
    image = as_working_image(source)
    record = []
    for position, transform in enumerate(plan["transforms"]):
        spec = SPECS[transform["name"]]
        applied = rng.random() < transform["p"]
        params, extra = {}, {}
        for param in spec.params:
            value = transform["params"][param.name]
            if value == MATCH:
                fit = plan["matching"][str(position)]
                target = matching.draw_target(fit["target"], float(rng.random()))
                if applied:
                    before = measure_image(image)[fit["characteristic"]]
                    drawn, clamped = matching.invert(
                        grid=fit["grid"],
                        curve=fit["curve"],
                        model=fit["model"],
                        before=before,
                        target=target,
                    )
                    params[param.record] = round(float(drawn), 4)
                    extra = {"target": {fit["characteristic"]: round(target, 4)}}
                    if clamped:
                        extra["clamped"] = True
                else:
                    params[param.record] = 0.0
            else:
                params[param.record] = draw(param, value, rng)
                if not param.integer:
                    params[param.record] = round(params[param.record], 4)
        template = None
        if spec.needs_overlays:
            count = len(plan.get("overlays") or [])
            if count == 0:
                raise ValueError("TemplateTransform needs an overlay set with images.")
            choice = int(rng.integers(count))
            params["template"] = plan["overlays"][choice]
            if applied:
                template = overlay(choice)
        entry = {"name": spec.name, "applied": bool(applied), "params": params, **extra}
        if applied:
            image = apply_one(spec.name, image, params, rng, template=template)
        record.append(entry)
    return image, record


def encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=PNG_LEVEL)
    return out.getvalue()


# ------------------------------------------------------------------ the overfitting warning


def _value_key(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def variety_report(*, records: Sequence[dict], pool_size: int, overlay_count: int = 0) -> dict:
    """How much variety a job drew on: distinct source images and overlay images and how
    often each was reused, distinct values of each parameter (3 significant digits), and
    warnings when a small pool is reused many times (the course's "one hour of car noise
    over 10,000 hours of speech").

    `records`: one per output, {"source": <example pk>, "transforms": [...replay...]}."""
    outputs = len(records)
    sources = Counter(r["source"] for r in records)
    overlays = Counter()
    values: dict[str, set] = {}
    for r in records:
        for step in r["transforms"]:
            if not step["applied"]:
                continue
            for name, value in step["params"].items():
                if name == "template":
                    overlays[value] += 1
                    continue
                values.setdefault(f"{step['name']}.{name}", set()).add(_value_key(value))
    report = {
        "outputs": outputs,
        "pool_size": pool_size,
        "distinct_sources": len(sources),
        "source_reuse_mean": outputs / len(sources) if sources else 0.0,
        "source_reuse_max": max(sources.values(), default=0),
        "overlay_pool": overlay_count,
        "distinct_overlays": len(overlays),
        "overlay_reuse_mean": sum(overlays.values()) / len(overlays) if overlays else 0.0,
        "overlay_reuse_max": max(overlays.values(), default=0),
        "distinct_values": {name: len(found) for name, found in sorted(values.items())},
        "warnings": [],
    }
    if sources and report["source_reuse_mean"] >= REUSE_WARNING:
        report["warnings"].append(
            f"{outputs} outputs come from only {len(sources)} source images (each used "
            f"{report['source_reuse_mean']:.1f} times on average): a model may learn these "
            "few images rather than what the transforms mimic. Widen the source filter, or "
            "synthesize fewer."
        )
    if overlays and report["overlay_reuse_mean"] >= REUSE_WARNING:
        report["warnings"].append(
            f"Only {len(overlays)} overlay images were blended into "
            f"{sum(overlays.values())} outputs (each {report['overlay_reuse_mean']:.1f} times "
            "on average): like one hour of car noise repeated over 10,000 hours of speech, a "
            "model can overfit to these overlays although a person cannot tell. Upload more."
        )
    for name, count in report["distinct_values"].items():
        applied = sum(
            1
            for r in records
            for s in r["transforms"]
            if s["applied"] and name.startswith(s["name"] + ".")
        )
        if applied >= 20 and count <= 3:
            report["warnings"].append(
                f"{name} takes only {count} distinct value(s) over {applied} outputs: "
                "give it a range."
            )
    return report


def synthetic_verdict(
    *, synthetic: float | None, train_dev: float | None, dev: float | None
) -> str:
    """What a later run's errors say about the synthesized examples."""
    if synthetic is None:
        return "This run has no predictions on the synthesized examples."
    if dev is None:
        return "This run has no dev predictions to compare with."
    if synthetic < dev / 3 and dev - synthetic >= 0.02:
        return (
            f"The model fits the synthesized examples ({synthetic:.1%}) far better than dev "
            f"({dev:.1%}): it may have learned the synthesis artefacts rather than what dev "
            "looks like. Check the variety report and look at synthesized examples it gets "
            "right."
        )
    return (
        f"Error on synthesized examples ({synthetic:.1%}) is in line with dev ({dev:.1%})"
        + (f" and train-dev ({train_dev:.1%})" if train_dev is not None else "")
        + ": no sign that the model learned the artefacts."
    )
