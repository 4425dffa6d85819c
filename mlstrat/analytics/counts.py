"""A run's prediction counts, kept in step instead of recounted (#15).

What every dashboard figure is made of (queries.prediction_counts and, for multi-task
runs, queries.image_counts) changes only when a run is imported and when a label changes.
So the counts are made once, by the import, and stored (models.RunCounts and CountRow);
each label change then moves its one example's prediction in every run of the dataset
from the group it was in to the group it is in now, in the same transaction; and a
recompute reads them back. Both ways go through the same two queries: a label change
runs them on its one example before and after the change and stores the difference,
so the stored rows are always what a full recount would give (tests/analytics/
test_kept_counts.py checks that after random sequences of changes).

Locks: a label change locks the RunCounts rows of every run of its dataset (in run
order) before it reads anything; a rebuild locks its run's row. So a change and a
rebuild of the same run never interleave, and neither waits for the other for long.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from mlstrat.datasets.models import Example, ModelRun

from . import queries
from .figures import CONFIDENCE_BINS
from .models import CountRow, RunCounts

GROUP = ("task", "split", "source", "label", "predicted_label")
SUMMED = queries.COUNT_FIELDS


def _key(row: dict) -> tuple:
    return tuple(row[field] for field in GROUP)


def _tasks(run: ModelRun) -> int:
    return len(run.dataset.tasks or [])


def _headers(run_ids: list[int]) -> list[RunCounts]:
    """The runs' RunCounts rows, created when missing and locked, in run order. A row
    created here is unbuilt (no fingerprint): a reader builds it."""
    RunCounts.objects.bulk_create(
        [RunCounts(run_id=run_id) for run_id in run_ids], ignore_conflicts=True
    )
    return list(RunCounts.objects.select_for_update().filter(run_id__in=run_ids).order_by("run_id"))


def counts_rebuild(*, run: ModelRun) -> RunCounts:
    """Count the run's predictions from scratch and store the counts (the import does
    this once; a reader does it when the stored ones are missing or out of step)."""
    with transaction.atomic():
        (header,) = _headers([run.pk])
        return _rebuild(run=run, header=header)


def _rebuild(*, run: ModelRun, header: RunCounts) -> RunCounts:
    fingerprint = queries.prediction_fingerprint(run=run)
    tasks = _tasks(run)
    header.images = queries.image_counts(run=run, tasks=tasks) if tasks else {}
    header.fingerprint = fingerprint
    header.save(update_fields=["images", "fingerprint"])
    CountRow.objects.filter(run=run).delete()
    rows = queries.prediction_counts(run=run)
    if connection.vendor == "postgresql":
        # One COPY: at 100 classes a run has 31,000 groups, which took 2.5 s through the
        # ORM and 0.8 s more as one INSERT … SELECT (run without parallel workers).
        queries.copy_rows(
            table=CountRow._meta.db_table,
            columns=["run_id", *GROUP, *SUMMED, "confidence_bins", "confidence_sums"],
            values=(
                (
                    run.pk,
                    *(row[field] for field in (*GROUP, *SUMMED)),
                    json.dumps(row["confidence_bins"]),
                    json.dumps(row["confidence_sums"]),
                )
                for row in rows
            ),
        )
    else:
        CountRow.objects.bulk_create([CountRow(run=run, **row) for row in rows], batch_size=500)
    return header


def counts_read(*, run: ModelRun) -> tuple[list[dict], dict]:
    """The run's prediction_counts rows and image counts, as stored; rebuilt first when
    they are missing or were made before the run's latest import or label change."""
    with transaction.atomic():
        (header,) = _headers([run.pk])
        if header.fingerprint != queries.prediction_fingerprint(run=run):
            header = _rebuild(run=run, header=header)
        rows = list(
            # In group order: the snapshot's lists (confusion cells) come out the same
            # however the rows were last written.
            CountRow.objects.filter(run=run)
            .order_by(*GROUP)
            .values(*GROUP, *SUMMED, "confidence_bins", "confidence_sums")
        )
    return rows, header.images


@contextmanager
def following_label_change(*, example: Example) -> Iterator[None]:
    """Around a change of `example`'s label (the caller holds the example's row lock and
    records the change inside the block): every built run's counts move the example's
    prediction from its old group to its new one."""
    dataset_id = example.dataset_id
    runs = {
        run.pk: run
        for run in ModelRun.objects.filter(dataset_id=dataset_id).select_related("dataset")
    }
    headers = _headers(sorted(runs))
    # Only counts that are in step now can be kept in step.
    last = queries.last_label_change(dataset_id=dataset_id)
    kept = [
        header
        for header in headers
        if header.fingerprint
        == queries.prediction_fingerprint(run=runs[header.run_id], last_change=last)
    ]
    before = {header.run_id: _one_example(runs[header.run_id], example) for header in kept}
    yield
    last = queries.last_label_change(dataset_id=dataset_id)
    for header in kept:
        run = runs[header.run_id]
        after = _one_example(run, example)
        _apply(run, before[run.pk]["rows"], after["rows"])
        if "images" in after:
            _move_images(header, before[run.pk]["images"], after["images"])
        header.fingerprint = queries.prediction_fingerprint(run=run, last_change=last)
        header.save(update_fields=["images", "fingerprint"])


def _one_example(run: ModelRun, example: Example) -> dict:
    counted = {"rows": queries.prediction_counts(run=run, example=example)}
    tasks = _tasks(run)
    if tasks:
        counted["images"] = queries.image_counts(run=run, tasks=tasks, image=example.example_id)
    return counted


def _apply(run: ModelRun, before: list[dict], after: list[dict]) -> None:
    """Stored rows += after − before, group by group; a group left with no prediction
    goes (a recount would not have it)."""
    deltas: dict[tuple, dict] = {}
    for sign, rows in ((-1, before), (1, after)):
        for row in rows:
            delta = deltas.setdefault(_key(row), _zero())
            for field in SUMMED:
                delta[field] += sign * row[field]
            for b, (n, total) in enumerate(
                zip(row["confidence_bins"], row["confidence_sums"], strict=True)
            ):
                delta["confidence_bins"][b] += sign * n
                delta["confidence_sums"][b] += sign * total
    for key, delta in deltas.items():
        if not any(delta[field] for field in SUMMED) and not any(delta["confidence_bins"]):
            continue
        stored = CountRow.objects.filter(run=run, **dict(zip(GROUP, key, strict=True))).first()
        if stored is None:
            stored = CountRow(run=run, **dict(zip(GROUP, key, strict=True)), **_zero())
        for field in SUMMED:
            setattr(stored, field, getattr(stored, field) + delta[field])
        stored.confidence_bins = [
            a + b for a, b in zip(stored.confidence_bins, delta["confidence_bins"], strict=True)
        ]
        stored.confidence_sums = [
            0.0 if not n else a + b
            for a, b, n in zip(
                stored.confidence_sums,
                delta["confidence_sums"],
                stored.confidence_bins,
                strict=True,
            )
        ]
        if stored.examples + stored.unknown == 0:
            if stored.pk:
                stored.delete()
        else:
            stored.save()


def _zero() -> dict:
    return {
        **dict.fromkeys(SUMMED, 0),
        "confidence_bins": [0] * CONFIDENCE_BINS,
        "confidence_sums": [0.0] * CONFIDENCE_BINS,
    }


def _move_images(header: RunCounts, before: dict, after: dict) -> None:
    images = header.images
    for sign, counted in ((-1, before), (1, after)):
        for split, c in counted.items():
            target = images.setdefault(split, {"wrong": 0, "all_unknown": 0})
            target["wrong"] += sign * c["wrong"]
            target["all_unknown"] += sign * c["all_unknown"]
