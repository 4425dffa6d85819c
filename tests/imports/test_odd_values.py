"""Odd values in a row (huge numbers, objects where text belongs, NaN, very long text):
each is a row error naming its column, never an import stopped on an unexpected error."""

import json
import secrets

import pytest

from mlstrat.datasets.models import Example
from mlstrat.imports.models import JobStatus

from .builders import multitask_jsonl, multitask_rows, png_bytes, rows, zip_dump, zip_of
from .test_bad_dumps import assert_nothing_written, messages


def jsonl_dump(objects: list[dict], *, raw_lines: dict[int, str] | None = None):
    """A zip with predictions.jsonl (one line per object; `raw_lines` replaces a line by
    its index with text json.dumps could not write) and one PNG per row."""
    lines = [json.dumps(obj) for obj in objects]
    for index, text in (raw_lines or {}).items():
        lines[index] = text
    images = {obj["image"]: png_bytes() for obj in objects if isinstance(obj["image"], str)}
    return zip_of({"predictions.jsonl": "\n".join(lines) + "\n", **images})


def single_rows(n=3):
    table = rows(n)
    for row in table:
        row["confidence"] = 0.75
        row["probabilities"] = {"cat": 0.75, "dog": 0.25}
    return table


def assert_row_error(job, line, column):
    assert job.status == JobStatus.FAILED
    assert "unexpected error" not in job.message, job.message
    assert [(n, c) for n, c, _ in messages(job)] == [(line, column)], job.errors
    assert_nothing_written()


def probability_written_as(column: str, number: str):
    """A JSON Lines dump whose second row gives `number`, written as is, for `confidence`
    or for the probability of class cat (`prob_cat`)."""
    table = single_rows()
    line = json.dumps(table[1])
    if column == "confidence":
        line = line.replace('"confidence": 0.75', f'"confidence": {number}')
    else:
        line = line.replace('"cat": 0.75', f'"cat": {number}')
    return jsonl_dump(table, raw_lines={1: line})


@pytest.mark.parametrize("number", ["1e400", "-1e400", str(10**30), str(10**400), "9" * 5000])
@pytest.mark.parametrize("column", ["confidence", "prob_cat"])
def test_a_huge_number_for_a_probability_is_a_row_error(run_import, number, column):
    job = run_import(probability_written_as(column, number))
    assert_row_error(job, 2, column)
    assert "outside 0..1" in job.errors[0]["message"]
    assert len(job.errors[0]["message"]) < 300


OUTSIDE_0_1 = ["NaN", "Infinity", "-Infinity", "-0.5", "1.0000001", '"nan"', '"-1"', "2"]


@pytest.mark.parametrize("number", OUTSIDE_0_1)
@pytest.mark.parametrize("column", ["confidence", "prob_cat"])
def test_a_probability_outside_0_1_in_json_is_a_row_error(run_import, number, column):
    job = run_import(probability_written_as(column, number))
    assert_row_error(job, 2, column)
    assert job.errors[0]["message"].endswith("is outside 0..1")


@pytest.mark.parametrize("number", OUTSIDE_0_1 + ["1e400", str(10**400)])
def test_a_task_probability_outside_0_1_is_a_row_error(run_import, number):
    objects, images = multitask_lines_with_probabilities()
    objects[1]["probabilities"] = {"car": {"0": 0.5, "1": "@"}}
    lines = [json.dumps(obj) for obj in objects]
    lines[1] = lines[1].replace('"@"', number)
    job = run_import(zip_of({"predictions.jsonl": "\n".join(lines), **images}))
    assert_row_error(job, 2, "prob:car:1")


def test_a_huge_integer_in_metadata_is_kept(run_import):
    """An integer with more digits than Python converts (4300) is kept as its text."""
    table = single_rows()
    first = json.dumps(table[0])[:-1] + ', "serial": ' + "9" * 5000 + "}"
    second = json.dumps(table[1])[:-1] + ', "serial": ' + str(10**400) + "}"
    job = run_import(jsonl_dump(table, raw_lines={0: first, 1: second}))
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert Example.objects.get(example_id="ex0000").metadata["serial"] == "9" * 5000
    assert Example.objects.get(example_id="ex0001").metadata["serial"] == 10**400


@pytest.mark.parametrize("value", [{"a": 1}, [1], ["cat"]])
@pytest.mark.parametrize(
    "column", ["example_id", "image", "label", "prediction", "split", "source"]
)
def test_an_object_or_list_where_text_belongs_is_a_row_error(run_import, column, value):
    table = single_rows()
    table[1][column] = value
    job = run_import(jsonl_dump(table))
    assert_row_error(job, 2, column)
    kind = "an object" if isinstance(value, dict) else "a list"
    assert job.errors[0]["message"] == f"must be text or a number, not {kind}"


@pytest.mark.parametrize("value", [{"a": 1}, ["1"]])
@pytest.mark.parametrize("objects", ["labels", "predictions"])
def test_an_object_or_list_for_a_task_label_is_a_row_error(run_import, objects, value):
    table = multitask_rows()
    lines = multitask_jsonl(table).splitlines()
    second = json.loads(lines[1])
    second[objects]["car"] = value
    lines[1] = json.dumps(second)
    images = {row["image"]: png_bytes() for row in table}
    job = run_import(zip_of({"predictions.jsonl": "\n".join(lines), **images}))
    column = f"{objects[:-1]}:car"
    assert_row_error(job, 2, column)


def multitask_lines_with_probabilities():
    """The worked multi-task table as JSON Lines, task car with probabilities per class."""
    table = [{**row, "prob:car:0": "0.4", "prob:car:1": "0.6"} for row in multitask_rows()]
    images = {row["image"]: png_bytes() for row in table}
    return [json.loads(line) for line in multitask_jsonl(table).splitlines()], images


@pytest.mark.parametrize(
    ("probabilities", "column"),
    [
        ({"car": {"0": 0.4, "1": 0.6}, "bus": 0.5}, "prob:bus"),
        ({"car": {"0": 0.4, "1": 0.6}, "bus": {"a": 0.5}}, "prob:bus:a"),
        ({"car": {"0": 0.2, "1": 0.3, "2": 0.5}}, "prob:car:2"),
        ({"car": 0.5}, "prob:car"),
        ({"car": {"0": 0.4, "1": 0.6}, "pedestrian": 0.5}, "prob:pedestrian"),
    ],
    ids=["unknown-task", "unknown-task-class", "unknown-class", "binary-for-classes", "new"],
)
def test_task_probabilities_the_first_row_does_not_have_are_a_row_error(
    run_import, probabilities, column
):
    objects, images = multitask_lines_with_probabilities()
    objects[2]["probabilities"] = probabilities
    text = "\n".join(json.dumps(obj) for obj in objects)
    job = run_import(zip_of({"predictions.jsonl": text, **images}))
    assert_row_error(job, 3, column)
    if column == "prob:car:2":
        assert job.errors[0]["message"] == (
            "is not one of task 'car''s probabilities in the dump's first row "
            "(prob:car:0, prob:car:1)"
        )


def test_task_probabilities_naming_no_task_on_the_first_row_fail_the_job(run_import):
    objects, images = multitask_lines_with_probabilities()
    objects[0]["probabilities"]["bus"] = 0.5
    text = "\n".join(json.dumps(obj) for obj in objects)
    job = run_import(zip_of({"predictions.jsonl": text, **images}))
    assert_row_error(job, 1, "prob:bus")


def test_a_class_probability_the_first_row_does_not_have_is_a_row_error(run_import):
    table = single_rows()
    table[2]["probabilities"] = {"cat": 0.5, "dog": 0.3, "bird": 0.2}
    job = run_import(jsonl_dump(table))
    assert_row_error(job, 3, "prob_bird")


@pytest.mark.parametrize("multitask", [False, True], ids=["single-task", "multi-task"])
def test_metadata_keys_first_seen_after_the_first_row_are_kept(run_import, multitask):
    """JSON Lines has no header: a key the first object lacks is metadata all the same."""
    if multitask:
        objects, images = multitask_lines_with_probabilities()
    else:
        table = single_rows()
        objects, images = table, {row["image"]: png_bytes() for row in table}
    objects[1]["camera"] = "pixel"
    objects[2]["lens"] = {"mm": 35, "make": "zeiss"}
    objects[2]["camera"] = ""  # empty, as in a CSV cell: not kept
    text = "\n".join(json.dumps(obj) for obj in objects)
    job = run_import(zip_of({"predictions.jsonl": text, **images}))
    assert job.status == JobStatus.SUCCEEDED, job.errors
    ids = [obj["example_id"] for obj in objects]
    metadata = dict(Example.objects.values_list("example_id", "metadata"))
    assert metadata[ids[0]] == {} or "camera" not in metadata[ids[0]]
    assert metadata[ids[1]]["camera"] == "pixel"
    assert metadata[ids[2]]["lens"] == {"mm": 35, "make": "zeiss"}
    assert "camera" not in metadata[ids[2]]


UNSTORABLE = {"nul": ("\\u0000", "contains a NUL character"), "surrogate": ("\\ud800", None)}


@pytest.mark.parametrize("char", UNSTORABLE)
@pytest.mark.parametrize(
    "column", ["example_id", "image", "label", "prediction", "split", "source", "camera"]
)
def test_text_postgresql_cannot_store_is_a_row_error(run_import, column, char):
    """A NUL, or half of a surrogate pair (a JSON escape no UTF-8 text holds)."""
    table = [{**row, "camera": "pixel", "confidence": "0.75"} for row in rows(3)]
    escape, message = UNSTORABLE[char]
    value = table[1][column]
    table[1][column] = f"{value}@"  # every value is text: a row as a CSV would give
    line = json.dumps(table[1]).replace(f'"{value}@"', f'"{value}{escape}"')
    job = run_import(jsonl_dump(table, raw_lines={1: line}))
    assert_row_error(job, 2, column)
    if message:
        assert job.errors[0]["message"] == message


@pytest.mark.parametrize("char", UNSTORABLE)
def test_text_postgresql_cannot_store_in_nested_metadata_is_a_row_error(run_import, char):
    table = single_rows()
    escape, _ = UNSTORABLE[char]
    line = json.dumps(table[1])[:-1] + f', "camera": {{"model{escape}": ["x"]}}}}'
    job = run_import(jsonl_dump(table, raw_lines={1: line}))
    assert_row_error(job, 2, "camera")


@pytest.mark.parametrize("char", UNSTORABLE)
def test_a_column_name_postgresql_cannot_store_fails_the_job_on_line_1(run_import, char):
    table = single_rows()
    escape, _ = UNSTORABLE[char]
    line = json.dumps(table[0])[:-1] + f', "cam{escape}era": "pixel"}}'
    job = run_import(jsonl_dump(table, raw_lines={0: line}))
    assert job.status == JobStatus.FAILED
    assert "unexpected error" not in job.message, job.message
    assert [(n, c) for n, c, _ in messages(job)] == [(1, repr(json.loads(f'"cam{escape}era"')))]
    assert_nothing_written()


def test_a_csv_column_name_with_a_nul_fails_the_job_on_line_1(run_import):
    table = "example_id,image,label,prediction,split,cam\x00era\na,images/a.png,cat,dog,dev,x\n"
    job = run_import(zip_of({"predictions.csv": table, "images/a.png": png_bytes()}))
    assert messages(job) == [(1, "'cam\\x00era'", "the column's name contains a NUL character")]
    assert job.message == "A column's name in the header holds a character no text can store."
    assert_nothing_written()


@pytest.mark.parametrize("char", UNSTORABLE)
def test_a_later_row_naming_a_class_postgresql_cannot_store_is_a_row_error(run_import, char):
    table = single_rows()
    escape, _ = UNSTORABLE[char]
    line = json.dumps(table[1]).replace('"dog": 0.25', f'"dog{escape}": 0.25')
    job = run_import(jsonl_dump(table, raw_lines={1: line}))
    assert_row_error(job, 2, repr(json.loads(f'"prob_dog{escape}"')))


@pytest.mark.parametrize(
    "column", ["example_id", "image", "label", "prediction", "split", "confidence", "prob_cat"]
)
def test_a_row_error_quotes_a_very_long_value_cut_short(run_import, column):
    """A cell may hold 128 KiB: the job keeps 100 errors, not 100 copies of it."""
    table = [{**row, "prob_cat": "0.5", "prob_dog": "0.5"} for row in rows(3)]
    table[1][column] = secrets.token_hex(50_000)  # 100,000 characters, not compressible
    images = {row["image"]: png_bytes() for row in table if len(row["image"]) < 100}
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.FAILED
    assert {c for _, c, _ in messages(job)} == {column}
    assert all(len(message) < 200 for _, _, message in messages(job)), job.errors


def test_a_multitask_row_error_quotes_a_very_long_label_cut_short(run_import):
    table = [{**row, "prob:car": "0.5"} for row in multitask_rows()]
    table[1]["label:car"] = table[2]["prediction:car"] = secrets.token_hex(50_000)
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.FAILED
    assert {c for _, c, _ in messages(job)} == {"label:car", "prediction:car"}
    assert all(len(message) < 200 for _, _, message in messages(job)), job.errors


def test_a_column_named_like_the_readers_header_marker_is_metadata(run_import):
    """No name is reserved: "__header__" once stood for the table's header row."""
    table = [{**row, "__header__": "x"} for row in rows(3)]
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert Example.objects.first().metadata["__header__"] == "x"
    objects = single_rows()
    objects[1]["__header__"] = 5
    job = run_import(jsonl_dump(objects), dataset="other")
    assert job.status == JobStatus.SUCCEEDED, job.message
