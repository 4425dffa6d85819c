"""Every rule of the format with a bad file: the job fails with the reason, nothing is written."""

import io
import struct
import zipfile

import pytest

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction
from mlstrat.imports.models import JobStatus

from .builders import png_bytes, rows, zip_dump


def assert_nothing_written():
    assert not ModelRun.objects.exists()
    assert not Example.objects.exists()
    assert not Prediction.objects.exists()
    assert not Dataset.objects.exists()


def messages(job):
    return [(error["line"], error["column"], error["message"]) for error in job.errors]


def test_a_missing_column_fails_the_job(run_import):
    table = rows(3)
    job = run_import(zip_dump(table, columns=["example_id", "image", "label", "prediction"]))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [(1, "split", "required column is missing")]
    assert_nothing_written()


def test_a_column_named_twice_fails_the_job_on_line_1(run_import):
    """The second `label` would silently stand for the first."""
    table = "example_id,image,label,prediction,split, label\na,images/a.png,cat,cat,dev,dog\n"
    job = run_import(table_only_zip(table.encode()))
    assert job.status == JobStatus.FAILED
    assert job.message == "The table names a column twice: label."
    assert messages(job) == [(1, "label", "appears twice in the header")]
    assert_nothing_written()


def test_an_unknown_split_is_a_row_error(run_import):
    table = rows(4)
    table[2]["split"] = "validation"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (4, "split", "unknown split 'validation': use train, train_dev, dev or test")
    ]
    assert "Nothing was imported" in job.message
    assert_nothing_written()


def test_a_duplicate_example_id_is_a_row_error(run_import):
    table = rows(4)
    table[3]["example_id"] = table[1]["example_id"]
    job = run_import(zip_dump(table))
    assert messages(job) == [(5, "example_id", "duplicate example_id (first on line 3)")]
    assert_nothing_written()


def test_a_missing_image_is_a_row_error(run_import):
    table = rows(3)
    images = {row["image"]: png_bytes() for row in table[:2]}
    job = run_import(zip_dump(table, images=images))
    assert messages(job) == [(4, "image", "images/ex0002.png: no such file in the dump")]
    assert_nothing_written()


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n but then garbage",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"<html><script>alert(1)</script></html>",
    ],
    ids=["broken-png", "svg", "html"],
)
def test_a_non_image_named_png_is_a_row_error(run_import, content):
    table = rows(2)
    images = {table[0]["image"]: png_bytes(), table[1]["image"]: content}
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (3, "image", "images/ex0001.png: not a readable image (PNG, JPEG, GIF, WEBP, BMP only)")
    ]
    assert_nothing_written()


def test_every_bad_image_is_listed_not_only_the_first(run_import):
    table = rows(5)
    images = {row["image"]: b"nope" for row in table}
    job = run_import(zip_dump(table, images=images))
    assert job.error_count == 5
    assert [line for line, _, _ in messages(job)] == [2, 3, 4, 5, 6]


def test_a_decompression_bomb_is_a_row_error(run_import, settings):
    settings.MLSTRAT_IMAGE_MAX_PIXELS = 1000
    table = rows(2)
    images = {table[0]["image"]: png_bytes(), table[1]["image"]: png_bytes(size=(100, 100))}
    job = run_import(zip_dump(table, images=images))
    assert messages(job) == [
        (
            3,
            "image",
            "images/ex0001.png: the image has more than 1000 pixels (possible decompression bomb)",
        )
    ]
    assert_nothing_written()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "high"])
def test_a_probability_outside_0_1_is_a_row_error(run_import, value):
    table = rows(2)
    table[1]["confidence"] = value
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert messages(job)[0][:2] == (3, "confidence")
    assert "outside 0..1" in messages(job)[0][2] or "not a number" in messages(job)[0][2]
    assert_nothing_written()


def test_a_prob_column_outside_0_1_is_a_row_error(run_import):
    table = [dict(row, prob_cat="0.5", prob_dog="0.5") for row in rows(2)]
    table[0]["prob_dog"] = "2"
    job = run_import(zip_dump(table))
    assert messages(job) == [(2, "prob_dog", "'2' is outside 0..1")]
    assert_nothing_written()


def test_a_label_outside_the_probability_classes_is_a_row_error(run_import):
    table = [dict(row, prob_cat="0.5", prob_dog="0.5") for row in rows(2)]
    table[1]["label"] = "bird"
    job = run_import(zip_dump(table))
    assert messages(job) == [(3, "label", "'bird' is not one of the dataset's classes")]


def test_a_label_contradicting_the_stored_one_is_a_row_error(run_import):
    assert run_import(zip_dump(rows(3)), run="v1").status == JobStatus.SUCCEEDED
    table = rows(3)
    table[0]["label"] = "cat"  # stored as dog
    job = run_import(zip_dump(table), run="v2")
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (2, "label", "'cat' contradicts the label 'dog' already stored for this example")
    ]
    assert ModelRun.objects.count() == 1
    assert Prediction.objects.count() == 3


def zip_with_member(name, data=b"x"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("predictions.csv", "example_id,image,label,prediction,split\n")
        archive.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("name", ["../evil.png", "images/../../evil.png", "/etc/evil.png"])
def test_unsafe_archive_paths_refuse_the_archive(run_import, name):
    job = run_import(zip_with_member(name))
    assert job.status == JobStatus.FAILED
    assert job.message == f"Unsafe path in the archive: {name!r} (absolute or with '..')."
    assert_nothing_written()


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\xe2\x82"],
    ids=["not-utf8", "surrogate", "cut-2-byte", "cut-3-byte"],
)
def test_a_member_name_marked_utf8_that_is_not_refuses_the_archive(run_import, raw):
    """A name whose UTF-8 flag lies (any invalid byte sequence) is a clear refusal of the
    archive, not an import stopped on an unexpected error."""
    placeholder = b"images/" + b"P" * len(raw) + b".png"
    data = zip_with_member(placeholder.decode(), b"x").getvalue()
    data = data.replace(placeholder, b"images/" + raw + b".png")
    directory = data.rfind(b"PK\x01\x02")  # the member's central directory record
    (flags,) = struct.unpack_from("<H", data, directory + 8)
    data = data[: directory + 8] + struct.pack("<H", flags | 0x800) + data[directory + 10 :]
    job = run_import(io.BytesIO(data))
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("The upload is not a readable zip archive (the member name")
    assert "is marked UTF-8 but is not valid UTF-8" in job.message
    assert_nothing_written()


def test_a_symlink_member_refuses_the_archive(run_import):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("predictions.csv", "example_id,image,label,prediction,split\n")
        link = zipfile.ZipInfo("images/link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    buffer.seek(0)
    job = run_import(buffer)
    assert job.message == "The archive member 'images/link.png' is a symbolic link."
    assert_nothing_written()


def test_a_zip_bomb_ratio_refuses_the_archive(run_import):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictions.csv", "example_id,image,label,prediction,split\n")
        archive.writestr("images/zeros.png", b"\0" * (4 * 1024 * 1024))
    buffer.seek(0)
    job = run_import(buffer)
    assert job.status == JobStatus.FAILED
    assert "possible decompression bomb" in job.message
    assert "images/zeros.png" in job.message
    assert_nothing_written()


def test_an_archive_over_the_expanded_size_cap_is_refused(run_import, settings):
    settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES = 1000
    job = run_import(zip_dump(rows(30)))
    assert job.message == "The archive expands to more than 1000 bytes."
    assert_nothing_written()


def test_an_archive_with_too_many_members_is_refused(run_import, settings):
    settings.MLSTRAT_IMPORT_MAX_MEMBERS = 5
    job = run_import(zip_dump(rows(10)))
    assert job.message == "The archive holds more than 5 members."
    assert_nothing_written()


def test_a_zip_without_a_table_is_refused(run_import):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("images/a.png", png_bytes())
    buffer.seek(0)
    job = run_import(buffer)
    assert job.message == (
        "No predictions.csv, predictions.jsonl (optionally .gz) or predictions.parquet "
        "found in the dump."
    )


def test_a_file_that_is_not_a_zip_is_refused(run_import):
    job = run_import(io.BytesIO(b"%PDF-1.7 not an archive\n"))
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("“dump.zip” is not a zip")
    assert_nothing_written()


def test_a_table_alone_is_told_it_is_not_a_zip(run_import, tmp_path):
    table = tmp_path / "predictions.csv"
    table.write_bytes(b"example_id,image\n")
    job = run_import(table)
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("“predictions.csv” is a table, not a zip")
    assert_nothing_written()


def table_only_zip(text: bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("predictions.csv", text)
        archive.writestr("images/a.png", png_bytes())
    buffer.seek(0)
    return buffer


def test_a_table_not_in_utf8_is_refused(run_import):
    table = "example_id,image,label,prediction,split\ncafé,images/a.png,chat é,dog,dev\n"
    job = run_import(table_only_zip(table.encode("latin-1")))
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("The table is not UTF-8 text")
    assert_nothing_written()


def test_a_nul_character_is_a_row_error(run_import):
    table = "example_id,image,label,prediction,split\na\x00b,images/a.png,cat,dog,dev\n"
    job = run_import(table_only_zip(table.encode()))
    assert messages(job) == [(2, "example_id", "contains a NUL character")]
    assert_nothing_written()


def test_too_many_columns_refuse_the_table(run_import):
    extra = [f"m{i}" for i in range(1001)]
    header = "example_id,image,label,prediction,split," + ",".join(extra)
    row = "a,images/a.png,cat,dog,dev," + ",".join("x" for _ in extra)
    job = run_import(table_only_zip(f"{header}\n{row}\n".encode()))
    assert job.message == "The table has 1006 columns; at most 1000 are accepted."
    assert_nothing_written()


def test_a_failed_import_retries_skipping_the_invalid_rows_without_a_new_upload(
    run_import, django_capture_on_commit_callbacks
):
    from mlstrat.imports.services import import_job_retry_skipping_invalid

    table = rows(7)
    table[5]["split"] = table[6]["split"] = "holdout"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED and job.error_count == 2
    assert "skip invalid rows" in job.message and "tick" not in job.message
    assert job.can_retry_skipping_invalid and job.upload  # the dump is kept for that
    with django_capture_on_commit_callbacks(execute=True):
        import_job_retry_skipping_invalid(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.rows_written, job.rows_skipped, job.skip_invalid) == (5, 2, True)
    assert not job.upload  # discarded once imported
    assert not job.can_retry_skipping_invalid


def test_a_dump_with_no_valid_row_is_not_kept_for_a_retry(run_import):
    job = run_import(zip_dump(rows(2, split="holdout")))
    assert job.status == JobStatus.FAILED
    assert not job.upload and not job.can_retry_skipping_invalid
