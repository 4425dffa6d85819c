import gzip
import io
import json
import zipfile

import pytest

from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports import services
from mlstrat.imports.models import JobStatus

from .builders import png_bytes, rows, zip_dump


def test_importing_the_same_run_name_again_is_refused_at_creation(run_import):
    run_import(zip_dump(rows(3)), run="v1")
    with pytest.raises(services.RunExistsError, match="already exists in dataset “photos”"):
        run_import(zip_dump(rows(3)), run="v1")
    assert ModelRun.objects.count() == 1


def test_a_run_created_meanwhile_is_refused_at_the_swap(run_import, project, alice):
    first = services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        upload=_upload(zip_dump(rows(3))),
        enqueue=False,
    )
    second = services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        upload=_upload(zip_dump(rows(3))),
        enqueue=False,
    )
    assert services.import_job_run(job_id=first.pk).status == JobStatus.SUCCEEDED
    job = services.import_job_run(job_id=second.pk)
    assert job.status == JobStatus.FAILED
    assert "already exists" in job.message
    assert ModelRun.objects.count() == 1
    assert Prediction.objects.count() == 3


def test_replace_swaps_the_old_run_for_the_new_one(run_import):
    run_import(zip_dump(rows(3)), run="v1")
    old = ModelRun.objects.get()
    table = rows(3, prediction="cat")
    job = run_import(zip_dump(table), run="v1", replace=True)
    assert job.status == JobStatus.SUCCEEDED
    run = ModelRun.objects.get(status=RunStatus.READY)
    assert run.pk != old.pk and not ModelRun.objects.filter(pk=old.pk).exists()
    assert set(run.predictions.values_list("predicted_label", flat=True)) == {"cat"}
    assert Example.objects.count() == 3


def test_skip_invalid_imports_the_valid_rows_and_lists_the_others(run_import):
    table = rows(5)
    table[1]["split"] = "nope"
    images = {row["image"]: png_bytes() for row in table}
    images[table[3]["image"]] = b"not an image"
    job = run_import(zip_dump(table, images=images), skip_invalid=True)
    assert job.status == JobStatus.SUCCEEDED
    assert job.rows_written == 3 and job.rows_skipped == 2
    assert [error["line"] for error in job.errors] == [3, 5]
    assert "Skipped 2 invalid row(s)" in job.message
    assert sorted(Example.objects.values_list("example_id", flat=True)) == [
        "ex0000",
        "ex0002",
        "ex0004",
    ]


def test_skip_invalid_with_no_valid_row_fails(run_import):
    job = run_import(zip_dump(rows(2, split="nope")), skip_invalid=True)
    assert job.status == JobStatus.FAILED
    assert job.message == "No valid rows to import."
    assert not ModelRun.objects.exists()


def test_errors_keep_the_first_100_and_the_total(run_import):
    job = run_import(zip_dump(rows(150, split="nope")))
    assert job.error_count == 150
    assert len(job.errors) == 100


def test_is_error_and_split_come_from_the_example(run_import):
    run_import(zip_dump(rows(8)))
    for prediction in Prediction.objects.select_related("example"):
        assert prediction.split == prediction.example.split
        assert prediction.is_error == (prediction.predicted_label != prediction.example.label)


def _upload(buffer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("dump.zip", buffer.getvalue())


def test_json_lines_gzipped_with_a_probabilities_object(run_import):
    lines = []
    for row in rows(4):
        row.pop("confidence")
        row["probabilities"] = {"cat": 0.4, "dog": 0.6}
        row["camera"] = "pixel"
        lines.append(json.dumps(row))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("predictions.jsonl.gz", gzip.compress("\n".join(lines).encode()))
        for row in rows(4):
            archive.writestr(row["image"], png_bytes())
    buffer.seek(0)
    job = run_import(buffer)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    prediction = Prediction.objects.first()
    assert prediction.probabilities == {"cat": 0.4, "dog": 0.6}
    assert prediction.example.metadata == {"camera": "pixel"}
    assert ModelRun.objects.get().has_probabilities


def test_a_table_with_images_in_a_server_folder(project, alice, tmp_path, settings):
    settings.MLSTRAT_IMPORT_ROOTS = [str(tmp_path)]
    (tmp_path / "images").mkdir()
    table = rows(3)
    for row in table:
        (tmp_path / row["image"]).write_bytes(png_bytes())
    from .builders import csv_text

    (tmp_path / "predictions.csv").write_text(csv_text(table))
    job = services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        server_path=str(tmp_path / "predictions.csv"),
        enqueue=False,
    )
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Example.objects.count() == 3
    assert job.thumbnails_done == 3


def test_a_server_path_outside_the_import_roots_is_refused(project, alice, tmp_path, settings):
    settings.MLSTRAT_IMPORT_ROOTS = [str(tmp_path / "allowed")]
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not under a folder the server imports from"):
        services.import_job_create(
            project=project,
            user=alice,
            dataset_name="photos",
            run_name="v1",
            server_path="/etc",
            enqueue=False,
        )


def test_text_with_tabs_newlines_backslashes_and_markup_survives(run_import):
    table = rows(2)
    table[0]["label"] = "a\\b\tc"
    table[0]["prediction"] = "a\\b\tc"
    table[1]["source"] = "<script>alert(1)</script>"
    table[1]["note"] = "line one\nline two \\N"
    job = run_import(zip_dump(table, columns=[*table[0].keys(), "note"]))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    first = Example.objects.get(example_id="ex0000")
    assert first.label == "a\\b\tc"
    assert first.predictions.get().is_error is False
    second = Example.objects.get(example_id="ex0001")
    assert second.source == "<script>alert(1)</script>"
    assert second.metadata == {"note": "line one\nline two \\N"}
