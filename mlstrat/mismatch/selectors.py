"""Reads of the data-mismatch concern: how train, train-dev, dev and test differ per
characteristic and per metadata column, which characteristic goes with dev errors, the
train-vs-dev reviews' sheets and figures, and how a later run does on synthesized data.

Distributions are histograms counted in SQL (one GROUP BY per characteristic over the
dataset's measured examples), over BINS bins common to all splits: equal widths, or equal
widths of log(1 + x) for sharpness and noise. Distances are computed from them by the
pure functions of stats.py; results are cached until the measured examples change.
"""

from __future__ import annotations

import math

from django.core.cache import cache
from django.db.models import Count, F, FloatField, Max, Min, Q, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Floor, Ln
from django.urls import reverse

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus, Split
from mlstrat.review.models import ErrorCategory

from . import stats
from .characteristics import BY_NAME, CHARACTERISTICS, NAMES
from .models import (
    CharacteristicNothing,
    CharacteristicReview,
    CharacteristicReviewItem,
    CharacteristicTick,
    ExampleCharacteristics,
    SynthesisJob,
)

BINS = 40
SPLIT_NAMES = {"train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}
# Which pairs are compared, and how each is read.
PAIRS = [("dev", "train"), ("train_dev", "train"), ("test", "dev")]
METADATA_MAX_VALUES = 30
METADATA_MAX_KEYS = 20
CACHE_SECONDS = 600


# ---------------------------------------------------------------- distributions


def _state(dataset: Dataset) -> tuple:
    rows = ExampleCharacteristics.objects.filter(dataset=dataset).aggregate(
        n=Count("pk"), last=Max("pk")
    )
    return rows["n"], rows["last"] or 0


def _edges(ranges: dict) -> dict[str, list[float]]:
    edges = {}
    for c in CHARACTERISTICS:
        low, high = ranges[f"{c.name}_min"], ranges[f"{c.name}_max"]
        edges[c.name] = stats.bin_edges(low, high, BINS, log_scale=c.log_scale)
    return edges


def _bin_expression(name: str, edges: list[float], prefix: str = ""):
    c = BY_NAME[name]
    value = Cast(F(prefix + name), FloatField())
    if c.log_scale:
        low, high = math.log1p(max(edges[0], 0.0)), math.log1p(max(edges[-1], 0.0))
        width = (high - low) / BINS
        return Floor((Ln(value + Value(1.0)) - Value(low)) / Value(width))
    width = (edges[-1] - edges[0]) / BINS
    return Floor((value - Value(edges[0])) / Value(width))


def _counted(rows, key_fields) -> dict:
    """{key: [counts per bin]} from rows of (*key, bin, n); bins clamped into range."""
    out = {}
    for row in rows:
        key = tuple(row[k] for k in key_fields)
        counts = out.setdefault(key, [0] * BINS)
        index = min(max(int(row["bin"] or 0), 0), BINS - 1)
        counts[index] += row["n"]
    return out


def _histograms(queryset, edges: dict, key_fields: list[str], prefix: str = "") -> dict:
    """{characteristic: {key: counts}} for the queryset, grouped by key_fields."""
    out = {}
    for name in NAMES:
        rows = (
            queryset.annotate(bin=_bin_expression(name, edges[name], prefix))
            .values(*key_fields, "bin")
            .annotate(n=Count("pk"))
            .order_by()
        )
        out[name] = _counted(rows, key_fields)
    return out


def _sum(histograms: list[list[int]]) -> list[int]:
    total = [0] * BINS
    for counts in histograms:
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return total


def _finding(*, name, subject, reference, a, b, edges, source="", plural=False) -> dict:
    c = BY_NAME[name]
    ks = stats.ks_binned(a, b)
    median_a, median_b = stats.median_binned(a, edges), stats.median_binned(b, edges)
    subject_name = SPLIT_NAMES.get(subject, subject)
    reference_name = SPLIT_NAMES.get(reference, reference)
    if source:
        subject_name, reference_name = f"{subject_name} ({source})", f"{reference_name} ({source})"
    return {
        "characteristic": name,
        "label": c.label,
        "subject": subject,
        "reference": reference,
        "source": source,
        "n_subject": sum(a),
        "n_reference": sum(b),
        "ks": ks,
        "wasserstein": stats.wasserstein_binned(a, b, edges),
        "median_subject": median_a,
        "median_reference": median_b,
        "direction": (
            "" if ks < stats.NEGLIGIBLE_KS else ("higher" if median_a > median_b else "lower")
        ),
        "sentence": stats.shift_sentence(
            subject=subject_name,
            reference=reference_name,
            higher=c.higher,
            lower=c.lower,
            ks=ks,
            median_subject=median_a,
            median_reference=median_b,
            label=c.label,
            plural=plural,
        ),
    }


def _rank(finding: dict) -> tuple:
    """Largest KS first; between equal KS (two fully separated distributions, say) the
    larger ratio of medians, so "100 times blurrier" leads "a third flatter"."""
    a, b = abs(finding["median_subject"]), abs(finding["median_reference"])
    ratio = abs(math.log((a + 1e-9) / (b + 1e-9)))
    return (-round(finding["ks"], 9), -ratio)


def characteristics_comparison(*, dataset: Dataset) -> dict:
    """Per characteristic: histograms per split (and per split and source), and the
    distances between splits, ranked (largest KS first) so the first line says where dev
    differs most from train."""
    count, last = _state(dataset)
    key = f"mismatch:chars:{dataset.pk}:{count}:{last}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = _comparison(dataset=dataset, count=count)
    cache.set(key, result, CACHE_SECONDS)
    return result


def _comparison(*, dataset: Dataset, count: int) -> dict:
    examples = Example.objects.filter(dataset=dataset).count()
    empty = {
        "measured": count,
        "examples": examples,
        "characteristics": [],
        "findings": [],
        "by_source": [],
        "headline": None,
    }
    if not count:
        return empty
    measured = ExampleCharacteristics.objects.filter(dataset=dataset).exclude(
        source__startswith="synthetic:"
    )
    aggregates = {}
    for name in NAMES:
        aggregates[f"{name}_min"] = Min(name)
        aggregates[f"{name}_max"] = Max(name)
    ranges = measured.aggregate(**aggregates)
    if ranges["brightness_min"] is None:
        return empty
    edges = _edges(ranges)
    histograms = _histograms(measured, edges, ["split", "source"])
    sources = sorted({source for (_, source) in histograms["brightness"]})
    characteristics, findings, by_source = [], [], []
    for c in CHARACTERISTICS:
        per_key = histograms[c.name]
        splits = {
            split: _sum([counts for (s, _), counts in per_key.items() if s == split])
            for split in SPLIT_NAMES
        }
        characteristics.append(
            {
                "name": c.name,
                "label": c.label,
                "unit": c.unit,
                "log_scale": c.log_scale,
                "edges": edges[c.name],
                "splits": {s: counts for s, counts in splits.items() if sum(counts)},
                "sources": {
                    source: {
                        split: per_key[(split, source)]
                        for split in SPLIT_NAMES
                        if (split, source) in per_key
                    }
                    for source in sources
                },
            }
        )
        for subject, reference in PAIRS:
            if sum(splits[subject]) and sum(splits[reference]):
                findings.append(
                    _finding(
                        name=c.name,
                        subject=subject,
                        reference=reference,
                        a=splits[subject],
                        b=splits[reference],
                        edges=edges[c.name],
                    )
                )
        for source in sources:
            a, b = per_key.get(("dev", source)), per_key.get(("train", source))
            if a and b:
                by_source.append(
                    _finding(
                        name=c.name,
                        subject="dev",
                        reference="train",
                        a=a,
                        b=b,
                        edges=edges[c.name],
                        source=source or "no source",
                    )
                )
    findings.sort(key=lambda f: (PAIRS.index((f["subject"], f["reference"])), *_rank(f)))
    by_source.sort(key=_rank)
    dev_vs_train = [f for f in findings if (f["subject"], f["reference"]) == ("dev", "train")]
    return {
        "measured": count,
        "examples": examples,
        "characteristics": characteristics,
        "findings": findings,
        "by_source": by_source,
        "headline": dev_vs_train[0] if dev_vs_train and dev_vs_train[0]["direction"] else None,
    }


# ---------------------------------------------------------------- metadata columns


def _metadata_keys(dataset: Dataset) -> list[str]:
    keys = set()
    for metadata in Example.objects.filter(dataset=dataset).values_list("metadata", flat=True)[
        :500
    ]:
        if isinstance(metadata, dict):
            keys.update(k for k in metadata if k.replace("_", "").replace("-", "").isalnum())
    return sorted(keys)[:METADATA_MAX_KEYS]


def metadata_comparison(*, dataset: Dataset) -> dict:
    """Category frequencies of `source` and of each metadata column with few values, per
    split, and the total variation distance of dev's mix from train's, ranked."""
    key = f"mismatch:meta:{dataset.pk}:{Example.objects.filter(dataset=dataset).count()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    examples = Example.objects.filter(dataset=dataset).exclude(source__startswith="synthetic:")
    columns = [("source", F("source"))] + [
        (name, KeyTextTransform(name, "metadata")) for name in _metadata_keys(dataset)
    ]
    out = []
    for name, expression in columns:
        rows = (
            examples.annotate(value=expression)
            .values("split", "value")
            .annotate(n=Count("pk"))
            .order_by()
        )
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            value = "" if row["value"] is None else str(row["value"])
            counts.setdefault(row["split"], {})[value] = row["n"]
        values = set().union(*(c.keys() for c in counts.values())) if counts else set()
        if len(values) > METADATA_MAX_VALUES or len(values) < 2:
            continue
        train, dev = counts.get("train"), counts.get("dev")
        tvd = stats.total_variation(dev, train) if train and dev else None
        out.append(
            {
                "column": name,
                "values": sorted(values),
                "counts": counts,
                "tvd": tvd,
                "sentence": _metadata_sentence(name, dev, train, tvd),
            }
        )
    out.sort(key=lambda c: -(c["tvd"] or 0))
    cache.set(key, out, CACHE_SECONDS)
    return out


def _metadata_sentence(column, dev, train, tvd) -> str:
    if tvd is None:
        return f"{column}: needs both train and dev examples."
    if tvd < 0.1:
        return f"{column}: dev's mix is like train's (total variation {tvd:.2f})."
    dev_total, train_total = sum(dev.values()), sum(train.values())
    top = max(
        set(dev) | set(train),
        key=lambda v: dev.get(v, 0) / dev_total - train.get(v, 0) / train_total,
    )
    label = top if top else "(empty)"
    return (
        f"{column}: dev's mix differs from train's (total variation {tvd:.2f}); most "
        f"over-represented in dev: {label} ({dev.get(top, 0) / dev_total:.0%} of dev vs "
        f"{train.get(top, 0) / train_total:.0%} of train)."
    )


# ---------------------------------------------------------------- errors vs correct


def errors_comparison(*, run: ModelRun, split: str = Split.DEV) -> dict:
    """Which characteristic goes with errors: each characteristic of the run's errors on a
    split against its correct predictions there, ranked by KS."""
    comparison = characteristics_comparison(dataset=run.dataset)
    if not comparison["characteristics"]:
        return {"findings": [], "errors": 0, "correct": 0}
    edges = {c["name"]: c["edges"] for c in comparison["characteristics"]}
    measured = Prediction.objects.filter(
        run=run, split=split, example__characteristics__isnull=False
    )
    histograms = _histograms(measured, edges, ["is_error"], prefix="example__characteristics__")
    findings = []
    errors = correct = 0
    for c in CHARACTERISTICS:
        per_key = histograms[c.name]
        wrong, right = per_key.get((True,)), per_key.get((False,))
        if not wrong or not right:
            continue
        errors, correct = sum(wrong), sum(right)
        finding = _finding(
            name=c.name,
            subject=f"{SPLIT_NAMES[split]} errors",
            reference="correct predictions",
            a=wrong,
            b=right,
            edges=edges[c.name],
            plural=True,
        )
        finding["error_rate_by_bin"] = [
            (w / (w + r)) if w + r else None for w, r in zip(wrong, right, strict=True)
        ]
        findings.append(finding)
    findings.sort(key=_rank)
    return {"findings": findings, "errors": errors, "correct": correct, "split": split}


# ---------------------------------------------------------------- train-vs-dev reviews


def review_categories(*, dataset_id: int) -> list[dict]:
    return [
        {"id": c.pk, "name": c.name, "key": c.key, "color": c.color, "description": c.description}
        for c in ErrorCategory.objects.filter(
            dataset_id=dataset_id, archived=False, builtin=""
        ).order_by("order", "id")
    ]


def review_rows(*, review: CharacteristicReview, user, reveal: bool) -> list[dict]:
    """Every item of the review with everyone's ticks and "nothing applies" marks. The
    split and source are left out of a blind review unless `reveal`."""
    items = list(
        CharacteristicReviewItem.objects.filter(review=review)
        .select_related("example")
        .order_by("position")
    )
    ticks, nothing = {}, {}
    for item_id, category_id, user_id in CharacteristicTick.objects.filter(
        item__review=review
    ).values_list("item_id", "category_id", "user_id"):
        ticks.setdefault(item_id, {}).setdefault(str(category_id), []).append(user_id)
    for item_id, user_id in CharacteristicNothing.objects.filter(item__review=review).values_list(
        "item_id", "user_id"
    ):
        nothing.setdefault(item_id, []).append(user_id)
    show = reveal or not review.blind
    rows = []
    for item in items:
        row = {
            "item": item.pk,
            "position": item.position,
            "example": item.example_id,
            "thumbnail": reverse("example-image", args=[item.example_id, "thumbnail"]),
            "image": reverse("example-image", args=[item.example_id, "image"]),
            "ticks": ticks.get(item.pk, {}),
            "nothing": nothing.get(item.pk, []),
        }
        if show:
            row.update(split=item.split, source=item.source, example_id=item.example.example_id)
        rows.append(row)
    return rows


def review_figures(*, review: CharacteristicReview) -> dict:
    """Each category's share of reviewed train and dev items, with 95% Wilson intervals,
    and dev minus train with Newcombe's interval; most over-represented in dev first.

    An item is reviewed once anyone ticked it or marked that nothing applies; it carries
    a category when anyone ticked it."""
    reviewed, carries = {}, {}
    splits = dict(CharacteristicReviewItem.objects.filter(review=review).values_list("pk", "split"))
    for item_id, category_id in CharacteristicTick.objects.filter(item__review=review).values_list(
        "item_id", "category_id"
    ):
        reviewed[item_id] = True
        carries.setdefault(category_id, set()).add(item_id)
    for item_id in CharacteristicNothing.objects.filter(item__review=review).values_list(
        "item_id", flat=True
    ):
        reviewed[item_id] = True
    n = {
        split: sum(1 for item, s in splits.items() if s == split and item in reviewed)
        for split in (Split.TRAIN, Split.DEV)
    }
    sampled = {
        split: sum(1 for s in splits.values() if s == split) for split in (Split.TRAIN, Split.DEV)
    }
    rows = []
    for category in review_categories(dataset_id=review.dataset_id):
        items = carries.get(category["id"], set())
        k_train = sum(1 for i in items if splits.get(i) == Split.TRAIN)
        k_dev = sum(1 for i in items if splits.get(i) == Split.DEV)
        train = stats.share(k_train, n[Split.TRAIN])
        dev = stats.share(k_dev, n[Split.DEV])
        rows.append(
            {
                **category,
                "train": train,
                "dev": dev,
                "difference": stats.share_difference(k_train, n[Split.TRAIN], k_dev, n[Split.DEV]),
            }
        )
    rows.sort(key=lambda r: -(r["difference"]["difference"] or 0))
    return {
        "review": review.pk,
        "name": review.name,
        "blind": review.blind,
        "reviewed": {"train": n[Split.TRAIN], "dev": n[Split.DEV]},
        "sampled": {"train": sampled[Split.TRAIN], "dev": sampled[Split.DEV]},
        "z": stats.Z975,
        "categories": rows,
    }


def review_progress(*, review: CharacteristicReview, user) -> dict:
    items = CharacteristicReviewItem.objects.filter(review=review)
    total = items.count()
    touched = set(
        CharacteristicTick.objects.filter(item__review=review).values_list("item_id", flat=True)
    ) | set(
        CharacteristicNothing.objects.filter(item__review=review).values_list("item_id", flat=True)
    )
    mine = set(
        CharacteristicTick.objects.filter(item__review=review, user=user).values_list(
            "item_id", flat=True
        )
    ) | set(
        CharacteristicNothing.objects.filter(item__review=review, user=user).values_list(
            "item_id", flat=True
        )
    )
    return {"total": total, "reviewed": len(touched), "mine": len(mine)}


def reviews_for_dataset(*, dataset: Dataset):
    return (
        CharacteristicReview.objects.filter(dataset=dataset)
        .select_related("created_by")
        .annotate(item_count=Count("items", distinct=True))
        .order_by("-created_at", "-id")
    )


# ---------------------------------------------------------------- synthesized data in later runs


def synthetic_outcome(*, job: SynthesisJob) -> list[dict]:
    """For each run that has predictions on this job's synthesized examples: its error on
    them, on real training examples, on train-dev and on dev, and what it suggests."""
    from mlstrat.analytics.figures import rate

    from .synthesis import synthetic_verdict

    dataset_id = job.recipe.dataset_id
    prefix = f"syn-{job.recipe.name}-{job.pk}-"
    runs = ModelRun.objects.filter(
        dataset_id=dataset_id,
        status=RunStatus.READY,
        predictions__example__example_id__startswith=prefix,
    ).distinct()
    synthetic = Q(example__source__startswith="synthetic:")
    out = []
    for run in runs.order_by("imported_at", "id"):
        # Unknown labels (multi-task dumps) are neither right nor wrong: left out of n.
        counts = Prediction.objects.filter(run=run, is_error__isnull=False).aggregate(
            syn_n=Count("pk", filter=Q(example__example_id__startswith=prefix)),
            syn_k=Count("pk", filter=Q(example__example_id__startswith=prefix, is_error=True)),
            train_n=Count("pk", filter=Q(split=Split.TRAIN) & ~synthetic),
            train_k=Count("pk", filter=Q(split=Split.TRAIN, is_error=True) & ~synthetic),
            train_dev_n=Count("pk", filter=Q(split=Split.TRAIN_DEV)),
            train_dev_k=Count("pk", filter=Q(split=Split.TRAIN_DEV, is_error=True)),
            dev_n=Count("pk", filter=Q(split=Split.DEV)),
            dev_k=Count("pk", filter=Q(split=Split.DEV, is_error=True)),
        )
        figures = {
            name: rate(counts[f"{name}_k"], counts[f"{name}_n"])
            for name in ("syn", "train", "train_dev", "dev")
        }
        out.append(
            {
                "run": {"id": run.pk, "name": run.name},
                "synthetic": figures["syn"],
                "train": figures["train"],
                "train_dev": figures["train_dev"],
                "dev": figures["dev"],
                "verdict": synthetic_verdict(
                    synthetic=figures["syn"]["rate"],
                    train_dev=figures["train_dev"]["rate"],
                    dev=figures["dev"]["rate"],
                ),
            }
        )
    return out


# ---------------------------------------------------------------- previews


def recipe_preview(*, recipe, count: int = 12, check: int = 100) -> dict:
    """The job's first `count` outputs exactly as a job started now would write them, and
    a check over the first `check` outputs: for every matched characteristic (and the
    characteristics the transforms move), KS and Wasserstein-1 to dev before and after."""
    import base64

    from . import services
    from .characteristics import measure_image
    from .transforms import SPECS

    plan = services.recipe_plan(recipe=recipe)
    outputs = services.synthesize_range(plan=plan, indices=range(min(count, recipe.count)))
    entries = [
        {
            "index": o["index"],
            "source": o["source"],
            "source_example_id": o["source_example_id"],
            "source_thumbnail": reverse("example-image", args=[o["source"], "thumbnail"]),
            "label": o["label"],
            "transforms": o["transforms"],
            "image": "data:image/png;base64," + base64.b64encode(o["png"]).decode(),
        }
        for o in outputs
    ]
    moved = sorted(
        {
            param.matches
            for t in recipe.transforms
            for param in SPECS[t["name"]].params
            if param.matches
        }
    )
    checks = []
    if check and moved:
        import io

        from mlstrat.datasets.images import open_image

        sample = services.synthesize_range(plan=plan, indices=range(min(check, recipe.count)))
        after = {name: [] for name in moved}
        for output in sample:
            with open_image(io.BytesIO(output["png"])) as image:
                values = measure_image(image)
            for name in moved:
                after[name].append(values[name])
        sources = sorted({o["source"] for o in sample})
        before = {
            name: list(
                ExampleCharacteristics.objects.filter(example_id__in=sources).values_list(
                    name, flat=True
                )
            )
            for name in moved
        }
        for name in moved:
            dev = list(
                ExampleCharacteristics.objects.filter(
                    dataset=recipe.dataset, split=Split.DEV
                ).values_list(name, flat=True)
            )
            if not dev or not before[name]:
                continue
            checks.append(
                {
                    "characteristic": name,
                    "label": BY_NAME[name].label,
                    "outputs": len(after[name]),
                    "ks_before": stats.ks_statistic(before[name], dev),
                    "ks_after": stats.ks_statistic(after[name], dev),
                    "wasserstein_before": stats.wasserstein(before[name], dev),
                    "wasserstein_after": stats.wasserstein(after[name], dev),
                    "median_dev": stats.median(dev),
                    "median_before": stats.median(before[name]),
                    "median_after": stats.median(after[name]),
                }
            )
    return {
        "recipe": recipe.pk,
        "pool_size": len(plan["pool"]),
        "entries": entries,
        "checks": checks,
        "matching": {
            position: {k: fit[k] for k in ("param", "characteristic", "model", "grid", "curve")}
            for position, fit in plan["matching"].items()
        },
    }
