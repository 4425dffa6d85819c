"""Multi-task dumps (#15): `label:<task>` / `prediction:<task>` columns (CSV), `labels` /
`predictions` objects (JSON Lines, Parquet); one example per (image, task) sharing the
image; an unknown label ("" or "?") stored as "" with predictions neither right nor
wrong; row errors as for single-task dumps; later runs carry the same tasks."""

import io

import pyarrow as pa
import pyarrow.parquet as pq

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction
from mlstrat.imports.models import JobStatus

from .builders import (
    TASKS,
    csv_text,
    multitask_jsonl,
    multitask_rows,
    png_bytes,
    zip_dump,
    zip_of,
)
from .test_bad_dumps import assert_nothing_written, messages


def images_of(table):
    return {row["image"]: png_bytes() for row in table}


def test_a_multitask_csv_makes_one_example_per_image_and_task(run_import):
    table = multitask_rows()
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert job.rows_written == 14
    dataset = Dataset.objects.get()
    assert dataset.tasks == TASKS
    assert dataset.task_class_names == {task: ["0", "1"] for task in TASKS}
    assert Example.objects.count() == 14 * 4
    d1 = {e.task: e for e in Example.objects.filter(example_id="d1")}
    assert sorted(d1) == sorted(TASKS)
    # One stored image for the four examples of an image.
    assert len({(e.image.name, e.image_offset, e.image_size) for e in d1.values()}) == 1
    assert {e.split for e in d1.values()} == {"dev"} and d1["car"].source == "street"
    assert (d1["stop_sign"].label, d1["stop_sign"].original_label) == ("", "")
    assert d1["pedestrian"].label == "1"


def test_unknown_labels_make_predictions_neither_right_nor_wrong(run_import):
    job = run_import(zip_dump(multitask_rows()))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    stop = Prediction.objects.filter(task="stop_sign", split="dev")
    assert stop.filter(is_error__isnull=True).count() == 4  # d1..d4: "?" and ""
    assert stop.filter(is_error=True).count() == 2
    assert stop.filter(is_error=False).count() == 2
    assert Prediction.objects.filter(task="car", example__example_id="d6").get().is_error is None
    assert set(Prediction.objects.values_list("task", flat=True)) == set(TASKS)
    assert not ModelRun.objects.get().has_probabilities


def test_binary_probabilities_give_both_classes_and_the_confidence(run_import):
    table = multitask_rows()
    for i, row in enumerate(table):
        row["prob:car"] = f"{0.1 * (i % 10):.1f}"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    prediction = Prediction.objects.get(task="car", example__example_id="d2")
    # d2 is row 8 (i = 7): P(car) = 0.7, predicted "0".
    assert prediction.probabilities == {"0": 0.30000000000000004, "1": 0.7}
    assert prediction.confidence == 0.30000000000000004
    assert Prediction.objects.get(task="pedestrian", example__example_id="d2").confidence is None
    assert ModelRun.objects.get().has_probabilities


def test_a_multitask_jsonl_with_objects_imports_the_same(run_import):
    table = multitask_rows()
    for row in table:
        row["prob:car"] = "0.8"
    dump = zip_of({"predictions.jsonl": multitask_jsonl(table), **images_of(table)})
    job = run_import(dump)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Dataset.objects.get().tasks == TASKS
    assert Example.objects.count() == 56
    assert Example.objects.get(example_id="d2", task="stop_sign").label == ""
    assert Prediction.objects.filter(is_error__isnull=True).count() == 8
    car = Prediction.objects.get(task="car", example__example_id="t1")
    assert car.probabilities == {"0": 0.19999999999999996, "1": 0.8} and car.confidence == 0.8


def test_a_jsonl_label_may_be_true_false_or_a_number(run_import):
    table = [
        {
            "example_id": "a",
            "image": "a.png",
            "split": "dev",
            "labels": {"car": True, "person": 0, "kind": 3.0},
            "predictions": {"car": False, "person": 0, "kind": 3},
        }
    ]
    import json

    dump = zip_of({"predictions.jsonl": json.dumps(table[0]) + "\n", "a.png": png_bytes()})
    job = run_import(dump)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    labels = dict(Example.objects.values_list("task", "label"))
    assert labels == {"car": "1", "person": "0", "kind": "3"}
    assert dict(Prediction.objects.values_list("task", "is_error")) == {
        "car": True,
        "person": False,
        "kind": False,
    }


def parquet_of(table: list[dict]) -> io.BytesIO:
    """The rows as Parquet with struct columns `labels` and `predictions` (None unknown)."""
    labels = [
        {t: (None if row[f"label:{t}"] in ("", "?") else int(row[f"label:{t}"])) for t in TASKS}
        for row in table
    ]
    predictions = [{t: int(row[f"prediction:{t}"]) for t in TASKS} for row in table]
    columns = {
        "example_id": [row["example_id"] for row in table],
        "image": [row["image"] for row in table],
        "split": [row["split"] for row in table],
        "labels": labels,
        "predictions": predictions,
        "probabilities": [{"car": 0.6, "pedestrian": 0.4} for _ in table],
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return zip_of({"predictions.parquet": buffer.getvalue(), **images_of(table)})


def test_a_multitask_parquet_with_struct_columns_imports(run_import):
    job = run_import(parquet_of(multitask_rows()))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Dataset.objects.get().tasks == TASKS
    assert Example.objects.get(example_id="d3", task="pedestrian").label == ""
    assert Example.objects.get(example_id="d3", task="car").label == "1"
    assert Prediction.objects.filter(is_error__isnull=True).count() == 8
    ped = Prediction.objects.get(task="pedestrian", example__example_id="d1")
    assert ped.probabilities == {"0": 0.6, "1": 0.4} and ped.confidence == 0.4


def test_a_parquet_row_with_a_bad_label_is_a_row_error(run_import):
    table = multitask_rows()
    dump = parquet_of(table)
    assert run_import(dump).status == JobStatus.SUCCEEDED
    # A later run whose Parquet has a pedestrian label outside 0/1 on one row.
    table[9]["label:pedestrian"] = "7"
    job = run_import(parquet_of(table), run="v2")
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (
            11,
            "label:pedestrian",
            "'7' is not one of task 'pedestrian''s classes (0, 1); an unknown label is left "
            "empty or written '?'",
        )
    ]


def test_an_unknown_label_in_one_row_and_an_unseen_class_in_another(run_import):
    """Task `weather` is unknown on line 3 (fine) and has the unseen class 'x' on line 9
    (refused, naming the task and its classes)."""
    table = []
    for i in range(10):
        table.append(
            {
                "example_id": f"w{i}",
                "image": f"images/w{i}.png",
                "split": "dev",
                "label:weather": "sun",
                "prediction:weather": "sun",
                "prob:weather:sun": "0.7",
                "prob:weather:rain": "0.3",
                "label:car": "1",
                "prediction:car": "1",
            }
        )
    table[1]["label:weather"] = "?"
    table[7]["label:weather"] = "x"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (
            9,
            "label:weather",
            "'x' is not one of task 'weather''s classes (rain, sun); an unknown label is left "
            "empty or written '?'",
        )
    ]
    assert_nothing_written()
    table[7]["label:weather"] = "rain"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Dataset.objects.get().task_class_names == {"weather": ["rain", "sun"], "car": ["1"]}
    assert Example.objects.get(example_id="w1", task="weather").label == ""


def test_an_empty_prediction_is_a_row_error(run_import):
    table = multitask_rows()
    table[2]["prediction:car"] = ""
    job = run_import(zip_dump(table))
    assert messages(job) == [(4, "prediction:car", "is empty: every task needs a prediction")]
    assert_nothing_written()


def test_a_task_without_its_prediction_column_fails_the_job(run_import):
    table = multitask_rows()
    columns = [c for c in table[0] if c != "prediction:car"]
    job = run_import(zip_dump(table, columns=columns))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [(1, "prediction:car", "required column is missing")]


def test_a_header_mixing_single_and_multitask_columns_fails(run_import):
    table = multitask_rows(label="1", confidence="0.5")
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (1, "label", "a multi-task dump has 'label:<task>' columns, not 'label'"),
        (
            1,
            "confidence",
            "a multi-task dump has no 'confidence' column: a task's confidence is its "
            "probability (prob:<task> or prob:<task>:<class>) of the predicted class",
        ),
    ]
    assert_nothing_written()


def test_a_jsonl_row_with_a_task_the_first_row_lacks_is_a_row_error(run_import):
    import json

    table = multitask_rows()
    lines = multitask_jsonl(table).splitlines()
    third = json.loads(lines[2])
    third["labels"]["bus"] = "1"
    third["predictions"]["bus"] = "0"
    lines[2] = json.dumps(third)
    job = run_import(zip_of({"predictions.jsonl": "\n".join(lines), **images_of(table)}))
    assert job.status == JobStatus.FAILED
    assert sorted(messages(job)) == [
        (3, "label:bus", "names a task the dump's first row does not have"),
        (3, "prediction:bus", "names a task the dump's first row does not have"),
    ]


def test_a_task_column_in_the_first_row_without_its_pair_fails_the_job(run_import):
    table = multitask_rows()
    text = multitask_jsonl(table).replace(
        '"traffic_light": "0"}', '"traffic_light": "0", "bus": "1"}', 1
    )
    job = run_import(zip_of({"predictions.jsonl": text, **images_of(table)}))
    assert messages(job) == [(1, "prediction:bus", "required column is missing")]


def test_task_probability_columns_must_name_a_task_and_one_kind(run_import):
    table = multitask_rows()
    for row in table:
        row["prob:bus"] = "0.5"
        row["prob:car"] = "0.5"
        row["prob:car:1"] = "0.5"
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert sorted(column for _, column, _ in messages(job)) == ["prob:bus", "prob:car"]
    assert_nothing_written()


def test_a_task_name_with_a_colon_is_refused(run_import):
    table = [{**row, "label:a:b": "1", "prediction:a:b": "1"} for row in multitask_rows()]
    job = run_import(zip_dump(table))
    assert messages(job) == [(1, "label:a:b", "the task name 'a:b' holds ':'")]


def test_a_later_run_attaches_to_the_examples_of_each_task(run_import):
    table = multitask_rows()
    assert run_import(zip_dump(table)).status == JobStatus.SUCCEEDED
    for row in table:
        row["prediction:car"] = "1"
    # A later dump may not know a label the first knew, or know one it did not.
    table[0]["label:car"] = "?"
    table[6]["label:stop_sign"] = "1"
    job = run_import(zip_dump(table, images={}), run="v2")
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert Example.objects.count() == 56
    v2 = ModelRun.objects.get(name="v2")
    assert v2.predictions.count() == 56
    # The label in force decides: d1's stop sign stays unknown, t1's car stays known.
    assert v2.predictions.get(task="stop_sign", example__example_id="d1").is_error is None
    assert v2.predictions.get(task="car", example__example_id="t1").is_error is False


def test_a_later_run_that_contradicts_a_known_label_is_refused(run_import):
    table = multitask_rows()
    assert run_import(zip_dump(table)).status == JobStatus.SUCCEEDED
    table[0]["label:car"] = "0"
    job = run_import(zip_dump(table, images={}), run="v2")
    assert messages(job) == [
        (2, "label:car", "'0' contradicts the label '1' already stored for this example")
    ]


def test_a_later_run_must_carry_the_same_tasks(run_import):
    table = multitask_rows()
    assert run_import(zip_dump(table)).status == JobStatus.SUCCEEDED
    fewer = [{k: v for k, v in row.items() if not k.endswith(":car")} for row in table]
    job = run_import(zip_dump(fewer, images={}), run="v2")
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (
            1,
            "",
            "the dump lacks task(s) car: every run of a dataset carries its tasks "
            "(pedestrian, car, stop_sign, traffic_light)",
        )
    ]
    assert not ModelRun.objects.filter(name="v2").exists()


def test_a_single_task_dump_is_refused_on_a_multitask_dataset(run_import):
    from .builders import rows

    assert run_import(zip_dump(multitask_rows())).status == JobStatus.SUCCEEDED
    job = run_import(zip_dump(rows(3)), run="v2")
    assert job.status == JobStatus.FAILED
    assert "the dataset is multi-task" in messages(job)[0][2]


def test_a_multitask_dump_is_refused_on_a_single_task_dataset(run_import):
    from .builders import rows

    assert run_import(zip_dump(rows(3))).status == JobStatus.SUCCEEDED
    job = run_import(zip_dump(multitask_rows()), run="v2")
    assert job.status == JobStatus.FAILED
    assert "a multi-task dump goes to a new dataset" in messages(job)[0][2]


def test_csv_text_keeps_the_task_columns():
    text = csv_text(multitask_rows()[:1])
    assert text.splitlines()[0].startswith("example_id,image,split,source,label:pedestrian")


def test_the_python_client_writes_a_multitask_table_with_nan_for_unknown(run_import, tmp_path):
    """What `mlstrat.client.push(df, ...)` sends for a DataFrame with `label:<task>`
    columns of 0/1 and NaN (pandas makes them floats)."""
    from mlstrat.client import write_dump

    columns = {
        "example_id": ["a", "b", "c"],
        "split": ["dev", "dev", "train"],
        "label:car": [1.0, float("nan"), 0.0],
        "prediction:car": [1, 1, 1],
        "label:person": [0.0, 1.0, float("nan")],
        "prediction:person": [0, 0, 1],
        "prob:car": [0.9, 0.8, 0.7],
    }
    target = tmp_path / "dump.zip"
    write_dump(columns, target, images=[png_bytes(), png_bytes(), png_bytes()])
    job = run_import(target)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    labels = dict(
        ((e, t), label)
        for e, t, label in Example.objects.values_list("example_id", "task", "label")
    )
    assert labels[("b", "car")] == "" and labels[("a", "car")] == "1"
    assert labels[("c", "person")] == "" and labels[("b", "person")] == "1"
    assert Prediction.objects.get(task="car", example__example_id="c").is_error is True


def import_three_images_of_four_tasks(run_import, *, size):
    """Three rows of four tasks each, every image of this size: 12 examples, all of
    whose thumbnails are made or recorded."""
    table = multitask_rows()[:3]
    job = run_import(zip_dump(table, images={row["image"]: png_bytes(size=size) for row in table}))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert (job.thumbnails_total, job.thumbnails_done, job.thumbnails_failed) == (12, 12, 0)


def test_the_tasks_of_an_image_share_one_thumbnail(run_import):
    import_three_images_of_four_tasks(run_import, size=(300, 200))
    ranges = {}
    for example_id, *stored in Example.objects.values_list(
        "example_id", "thumbnail", "thumbnail_offset", "thumbnail_size"
    ):
        ranges.setdefault(example_id, set()).add(tuple(stored))
    # Each image's four examples point at one range; the three images', in one pack.
    assert all(len(made) == 1 for made in ranges.values())
    made = [next(iter(made)) for made in ranges.values()]
    assert len({name for name, _, _ in made}) == 1 and "" not in {name for name, _, _ in made}
    assert sorted(offset for _, offset, _ in made)[0] == 0
    assert len({offset for _, offset, _ in made}) == 3


def test_the_tasks_of_a_small_image_share_it_as_their_thumbnail_and_its_measure(run_import):
    from mlstrat.mismatch.models import ExampleCharacteristics

    import_three_images_of_four_tasks(run_import, size=(30, 20))
    for example in Example.objects.all():
        assert (example.thumbnail.name, example.thumbnail_offset, example.thumbnail_size) == (
            example.image.name,
            example.image_offset,
            example.image_size,
        )
    assert ExampleCharacteristics.objects.filter(width=30, height=20).count() == 12
