"""A big dump's rows are checked in child processes (imports/checkers.py), a small one's in
the import's own process. Both must come to the same thing: the same row errors in the
same order, the same examples, images and predictions. Each dump here goes through both,
cut into chunks of a few rows so that every kind of row lands on a chunk's edge, and the
results are compared whole."""

import os

import pytest
from django.core.files.storage import default_storage

from mlstrat.datasets.models import Example, Prediction
from mlstrat.imports import checkers, pipeline

from .builders import TASKS, multitask_rows, png_bytes, rows, zip_dump

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked children")


@pytest.fixture
def both_ways(settings, monkeypatch, run_import):
    """Import a dump once in this process and once in two children (into two datasets);
    returns what each import reported and wrote."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 7)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(checkers, "PARALLEL_MIN_ROWS", 10)
    used = []
    close = checkers.RowChecker.close

    def recorded_close(self):
        used.append(self.parallel)
        close(self)

    monkeypatch.setattr(checkers.RowChecker, "close", recorded_close)

    def _run(*dumps, **options):
        outcomes = []
        for processes in (1, 2):
            settings.MLSTRAT_IMPORT_PROCESSES = processes
            dataset = f"photos-{processes}"
            used.clear()
            jobs = [
                run_import(dump, dataset=dataset, run=f"v{n}", **options)
                for n, dump in enumerate(dumps, start=1)
            ]
            assert used == [processes == 2] * len(dumps), used
            outcomes.append(([_job(job) for job in jobs], _written(dataset)))
        return outcomes

    return _run


def _job(job) -> dict:
    return {
        "status": job.status,
        "message": job.message.replace("photos-2", "photos-1"),
        "errors": job.errors,
        "error_count": job.error_count,
        "rows": (job.rows_total, job.rows_validated, job.rows_written),
    }


def _written(dataset: str) -> dict:
    examples = {}
    for example in Example.objects.filter(dataset__name=dataset):
        with default_storage.open(example.image.name) as pack:
            pack.seek(example.image_offset)
            image = pack.read(example.image_size)
        examples[(example.example_id, example.task)] = (
            example.label,
            example.original_label,
            example.split,
            example.source,
            example.metadata,
            image,
        )
    predictions = sorted(
        Prediction.objects.filter(run__dataset__name=dataset).values_list(
            "run__name",
            "example__example_id",
            "task",
            "split",
            "predicted_label",
            "confidence",
            "probabilities",
            "is_error",
        )
    )
    return {"examples": examples, "predictions": predictions}


def _images(table, **special):
    images = {row["image"]: png_bytes(color=(len(row["image"]) * 7 % 256, 9, 9)) for row in table}
    images.update(special)
    return images


def _mixed_table():
    """Good rows, and among them every kind of refusal: a broken line, a bad value, a
    missing and an undecodable image, a duplicate of a good row and of a row whose image
    failed, probabilities."""
    table = rows(60)
    for i, row in enumerate(table):
        row["prob_cat"] = f"{(i % 10) / 10:.1f}"
        row["prob_dog"] = f"{1 - (i % 10) / 10:.1f}"
        row["meta"] = f"m{i}" if i % 3 else ""
    table[5]["split"] = "validation"
    table[11]["image"] = "images/missing.png"
    table[12]["image"] = "images/broken.png"
    table[20]["example_id"] = table[12]["example_id"]
    table[21]["example_id"] = table[3]["example_id"]
    table[30]["confidence"] = "1.5"
    table[33]["label"] = "bird"
    return table


def test_a_mixed_dump_with_refused_rows_skipped_comes_out_the_same(both_ways):
    table = _mixed_table()
    images = _images(table, **{"images/broken.png": b"\x89PNG\r\n\x1a\nnot an image"})
    del images["images/missing.png"]
    dump = zip_dump(table, images=images)
    (jobs_here, written_here), (jobs_children, written_children) = both_ways(
        dump, skip_invalid=True
    )
    assert jobs_here == jobs_children
    assert written_here == written_children
    errors = jobs_here[0]["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [
        (7, "split"),
        (13, "image"),
        (14, "image"),
        (22, "example_id"),
        (23, "example_id"),
        (32, "confidence"),
        (35, "label"),
    ]
    assert "first on line 14" in errors[3]["message"]
    assert len(written_here["examples"]) == 60 - 7


def test_a_refused_dump_lists_the_same_errors_and_writes_nothing(both_ways):
    table = _mixed_table()
    images = _images(table, **{"images/broken.png": b"GIF89a...."})
    (jobs_here, written_here), (jobs_children, written_children) = both_ways(
        zip_dump(table, images=images)
    )
    assert jobs_here == jobs_children
    assert jobs_here[0]["status"] == "failed"
    assert written_here == written_children == {"examples": {}, "predictions": []}


def test_a_second_run_checks_stored_labels_and_splits_the_same(both_ways):
    """A second run's rows of stored examples: their labels and split must agree with
    what is stored; their images are not stored again."""
    first = rows(40)
    second = rows(45)
    second[4]["label"] = "dog" if second[4]["label"] == "cat" else "cat"
    second[9]["split"] = "test" if second[9]["split"] != "test" else "dev"
    second[17]["prediction"] = "dog"
    dumps = [zip_dump(first, images=_images(first)), zip_dump(second, images=_images(second))]
    (jobs_here, written_here), (jobs_children, written_children) = both_ways(
        *dumps, skip_invalid=True
    )
    assert jobs_here == jobs_children
    assert written_here == written_children
    assert [(e["line"], e["column"]) for e in jobs_here[1]["errors"]] == [
        (6, "label"),
        (11, "split"),
    ]
    assert len(written_here["examples"]) == 45


def test_a_multitask_dump_with_unknown_labels_comes_out_the_same(both_ways):
    table = []
    for copy in range(4):
        for row in multitask_rows():
            table.append({**row, "example_id": f"{row['example_id']}-{copy}"})
    table[9]["split"] = "nope"
    dumps = [zip_dump(table, images=_images(table))]
    (jobs_here, written_here), (jobs_children, written_children) = both_ways(
        *dumps, skip_invalid=True
    )
    assert jobs_here == jobs_children
    assert written_here == written_children
    assert len(written_here["examples"]) == (len(table) - 1) * len(TASKS)
    assert any(prediction[-1] is None for prediction in written_here["predictions"])


def test_a_second_runs_example_ids_that_cannot_be_looked_up_are_row_errors(run_import):
    """The stored examples are looked up by the rows' ids before the rows are checked:
    ids no database can be asked for (a NUL, half a surrogate pair, an object, a list)
    are refused as rows, never sent to the query."""
    import json

    from .builders import zip_of

    first = rows(2)
    run_import(zip_dump(first, images=_images(first)), run="v1")
    good = {k: v for k, v in rows(1)[0].items() if k in ("image", "label", "prediction", "split")}
    odd = ["a\x00b", "\ud800", {"a": 1}, ["x"], 7, True, first[1]["example_id"]]
    table = "".join(json.dumps({"example_id": value, **good}) + "\n" for value in odd)
    dump = zip_of({"predictions.jsonl": table, good["image"]: png_bytes()})
    job = run_import(dump, run="v2", skip_invalid=True)
    assert job.status == "succeeded", job.message
    # Line 7 names a stored example with another label: the lookup found it.
    assert [(e["line"], e["column"]) for e in job.errors][-1] == (7, "label")
    assert [e["line"] for e in job.errors] == [1, 2, 3, 4, 7]
    assert job.rows_written == 2
