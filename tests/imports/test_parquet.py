"""`predictions.parquet` is accepted wherever CSV and JSON Lines are (a zip, a server
folder), with the same row checks and row-level errors; a row's line counts a header as
line 1, as in a CSV."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlstrat.datasets.models import Example, ModelRun, Prediction
from mlstrat.imports import services
from mlstrat.imports.models import JobStatus

from .builders import png_bytes, rows, zip_of
from .test_bad_dumps import assert_nothing_written, messages


def parquet_bytes(columns: dict, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, **options)
    return buffer.getvalue()


def columns_of(table: list[dict]) -> dict:
    return {key: [row[key] for row in table] for key in table[0]}


def parquet_dump(columns: dict, images=None) -> io.BytesIO:
    names = images if images is not None else {path: png_bytes() for path in columns["image"]}
    return zip_of({"predictions.parquet": parquet_bytes(columns), **names})


def test_a_parquet_table_with_typed_columns_imports(run_import):
    columns = columns_of(rows(4))
    columns["label"] = [3, 7, 3, 7]  # integers, as pandas writes class ids
    columns["prediction"] = [3, 3, 3, 7]
    columns["confidence"] = [0.9, 0.6, None, 0.8]
    columns["prob_3"] = [0.9, 0.6, 0.5, 0.2]
    columns["prob_7"] = [0.1, 0.4, 0.5, 0.8]
    columns["camera"] = ["pixel", None, "iphone", "pixel"]
    columns["exposure"] = [1.5, 2.0, float("nan"), 0.25]
    job = run_import(parquet_dump(columns))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert job.rows_written == 4
    first = Example.objects.get(example_id="ex0000")
    assert (first.label, first.split, first.metadata) == (
        "3",
        "train",
        {"camera": "pixel", "exposure": 1.5},
    )
    assert Example.objects.get(example_id="ex0002").metadata == {
        "camera": "iphone",
        "exposure": "nan",
    }
    prediction = first.predictions.get()
    assert prediction.probabilities == {"3": 0.9, "7": 0.1} and prediction.confidence == 0.9
    assert Example.objects.get(example_id="ex0002").predictions.get().confidence is None
    assert ModelRun.objects.get().has_probabilities
    assert sorted(Prediction.objects.values_list("is_error", flat=True)) == [0, 0, 0, 1]


def test_float_class_ids_import_as_the_integers_they_are(run_import):
    """A float column of class ids (what pandas writes once a column held a NaN) names
    class "3", as an integer column does, not "3.0": else it matches no prob_3 column."""
    columns = columns_of(rows(3))
    columns["label"] = [3.0, 7.0, 3.0]
    columns["prediction"] = [3.0, 3.0, 2.5]  # 2.5 is no integer: it stays as written
    columns["prob_3"] = [0.9, 0.6, 0.1]
    columns["prob_7"] = [0.1, 0.4, 0.1]
    columns["prob_2.5"] = [0.0, 0.0, 0.8]
    columns["confidence"] = [0.9, 0.6, 0.8]
    job = run_import(parquet_dump(columns))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert sorted(Example.objects.values_list("label", flat=True)) == ["3", "3", "7"]
    assert sorted(Prediction.objects.values_list("predicted_label", flat=True)) == [
        "2.5",
        "3",
        "3",
    ]
    assert sorted(Prediction.objects.values_list("is_error", flat=True)) == [0, 1, 1]


@pytest.mark.parametrize("kind", ["struct", "map"])
def test_a_probabilities_column_is_spread_into_classes(run_import, kind):
    columns = columns_of(rows(2))
    probabilities = [{"cat": 0.3, "dog": 0.7}, {"cat": 0.8, "dog": 0.2}]
    if kind == "map":
        columns["probabilities"] = pa.array(
            [list(p.items()) for p in probabilities], pa.map_(pa.string(), pa.float64())
        )
    else:
        columns["probabilities"] = probabilities
    job = run_import(parquet_dump(columns))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    first = Example.objects.get(example_id="ex0000").predictions.get()
    assert first.probabilities == {"cat": 0.3, "dog": 0.7}


def test_bad_rows_get_the_same_errors_as_in_a_csv(run_import):
    table = rows(6)
    table[1]["split"] = "holdout"
    table[2]["confidence"] = 1.5
    table[3]["example_id"] = table[0]["example_id"]
    table[4]["label"] = None
    columns = columns_of(table)
    columns["confidence"] = [float(v) for v in columns["confidence"]]
    images = {row["image"]: png_bytes() for row in table if row["image"] != "images/ex0005.png"}
    job = run_import(parquet_dump(columns, images=images))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (3, "split", "unknown split 'holdout': use train, train_dev, dev or test"),
        (4, "confidence", "1.5 is outside 0..1"),
        (5, "example_id", "duplicate example_id (first on line 2)"),
        (6, "label", "is empty"),
        (7, "image", "images/ex0005.png: no such file in the dump"),
    ]
    assert "Nothing was imported: 5 problem(s) in 5 row(s)" in job.message
    assert_nothing_written()


def test_skip_invalid_imports_the_good_parquet_rows(run_import):
    table = rows(4)
    table[2]["split"] = "holdout"
    job = run_import(parquet_dump(columns_of(table)), skip_invalid=True)
    assert job.status == JobStatus.SUCCEEDED
    assert (job.rows_written, job.rows_skipped) == (3, 1)
    assert Example.objects.count() == 3


def test_a_missing_required_column_is_reported_on_line_1(run_import):
    columns = columns_of(rows(2))
    del columns["split"]
    job = run_import(parquet_dump(columns))
    assert messages(job) == [(1, "split", "required column is missing")]
    assert_nothing_written()


def test_a_column_named_twice_is_reported_on_line_1(run_import):
    table = rows(2)
    names = [*table[0], "prediction"]
    arrays = [pa.array([str(row[key]) for row in table]) for key in table[0]]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays([*arrays, pa.array(["x", "y"])], names=names), buffer)
    images = {row["image"]: png_bytes() for row in table}
    job = run_import(zip_of({"predictions.parquet": buffer.getvalue(), **images}))
    assert messages(job) == [(1, "prediction", "appears twice in the header")]
    assert_nothing_written()


def test_a_file_that_is_not_parquet_is_refused(run_import):
    job = run_import(zip_of({"predictions.parquet": b"PAR1 but not really", **{}}))
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("The table is not a readable Parquet file")
    assert_nothing_written()


def test_an_oversized_row_group_is_refused_before_reading(run_import, monkeypatch):
    from mlstrat.imports import parquet

    monkeypatch.setattr(parquet, "PARQUET_MAX_ROW_GROUP_BYTES", 100)
    job = run_import(parquet_dump(columns_of(rows(50))))
    assert job.status == JobStatus.FAILED
    assert "row group of the Parquet table holds" in job.message
    assert_nothing_written()


def test_a_parquet_table_in_a_server_folder(project, alice, tmp_path):
    table = rows(3)
    (tmp_path / "images").mkdir()
    for row in table:
        (tmp_path / row["image"]).write_bytes(png_bytes())
    (tmp_path / "predictions.parquet").write_bytes(parquet_bytes(columns_of(table)))
    job = services.import_job_create(
        project=project,
        user=alice,
        dataset_name="photos",
        run_name="v1",
        server_path=str(tmp_path),
        allow_any_path=True,
        enqueue=False,
    )
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    assert Example.objects.count() == 3


def test_a_duration_column_is_kept_as_seconds(run_import):
    table = rows(2)
    columns = {**columns_of(table), "exposure": pa.array([1_500, 250], type=pa.duration("ms"))}
    job = run_import(parquet_dump(columns))
    assert job.status == JobStatus.SUCCEEDED, job.message
    exposures = Example.objects.order_by("example_id").values_list("metadata", flat=True)
    assert [m["exposure"] for m in exposures] == [1.5, 0.25]


def test_a_date_beyond_year_9999_is_a_row_error(run_import):
    table = rows(3)
    stamps = pa.array([0, 300_000_000_000_000, 0], type=pa.timestamp("ms"))  # year 11476
    job = run_import(parquet_dump({**columns_of(table), "taken_at": stamps}))
    assert job.status == JobStatus.FAILED
    assert "unexpected error" not in job.message, job.message
    assert messages(job) == [(3, "", "the line holds a date or time outside years 1 to 9999")]
    assert_nothing_written()
