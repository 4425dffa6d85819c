"""The demo's multi-task dataset, made from the digits dumps: each image gets four labels
(is even, is > 4, the digit, is round), about 15% of them unknown, like the course's
street-scene example whose images are only partly labelled.

The dump is written from a digits run's own dump (its images, its labels and its
per-class probabilities), so it needs nothing beyond the standard library and is the
same every time (seeded). A binary task's probability is the sum of the digit
probabilities of its positive classes; its prediction is that probability ≥ 0.5.
"""

import csv
import io
import random
import zipfile
from pathlib import Path

DATASET_NAME = "digits-multitask"
# Kept small: the dev and test photos and a slice of train and train-dev.
KEEP = {"train": 150, "train_dev": 60, "dev": None, "test": None}
UNKNOWN_SHARE = 0.15
SEED = 15
DIGITS = [str(d) for d in range(10)]
# task: its positive digits (None: the ten-way digit task itself).
TASKS = {
    "is even": {"0", "2", "4", "6", "8"},
    "is > 4": {"5", "6", "7", "8", "9"},
    "digit": None,
    "is round": {"0", "6", "8", "9"},
}
ZIP_DATE = (2026, 11, 29, 12, 0, 0)


def _rows(source: Path) -> tuple[list[dict], zipfile.ZipFile]:
    archive = zipfile.ZipFile(source)
    with archive.open("predictions.csv") as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")))
    return rows, archive


def _kept(rows: list[dict]) -> list[dict]:
    taken = {split: 0 for split in KEEP}
    kept = []
    for row in sorted(rows, key=lambda r: r["example_id"]):
        limit = KEEP.get(row["split"], 0)
        if limit is not None and taken.get(row["split"], 0) >= limit:
            continue
        taken[row["split"]] = taken.get(row["split"], 0) + 1
        kept.append(row)
    return kept


def _task_columns(row: dict, unknown: set[str]) -> dict:
    probabilities = {d: float(row[f"prob_{d}"]) for d in DIGITS}
    out = {}
    for task, positive in TASKS.items():
        if positive is None:
            label, prediction = row["label"], row["prediction"]
            for d in DIGITS:
                out[f"prob:{task}:{d}"] = f"{probabilities[d]:.6f}"
        else:
            p = sum(probabilities[d] for d in positive)
            label = "1" if row["label"] in positive else "0"
            prediction = "1" if p >= 0.5 else "0"
            out[f"prob:{task}"] = f"{min(p, 1.0):.6f}"
        out[f"label:{task}"] = "?" if task in unknown else label
        out[f"prediction:{task}"] = prediction
    return out


def write_multitask_dump(*, source: Path, out: Path) -> Path:
    """Write a multi-task dump (a zip of predictions.csv and images/) made from the
    single-task digits dump `source`; the same unknown labels whatever the run."""
    rows, archive = _rows(source)
    kept = _kept(rows)
    rng = random.Random(SEED)
    columns = ["example_id", "image", "split", "source"]
    for task, positive in TASKS.items():
        columns += [f"label:{task}", f"prediction:{task}"]
        columns += [f"prob:{task}:{d}" for d in DIGITS] if positive is None else [f"prob:{task}"]
    columns.append("distortion")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in kept:
        unknown = {task for task in TASKS if rng.random() < UNKNOWN_SHARE}
        writer.writerow(
            {
                "example_id": row["example_id"],
                "image": row["image"],
                "split": row["split"],
                "source": row["source"],
                "distortion": row.get("distortion", ""),
                **_task_columns(row, unknown),
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dump:
        dump.writestr(zipfile.ZipInfo("predictions.csv", ZIP_DATE), text.getvalue())
        for row in kept:
            dump.writestr(zipfile.ZipInfo(row["image"], ZIP_DATE), archive.read(row["image"]))
    archive.close()
    return out
