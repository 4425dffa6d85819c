"""Class labels that str.isdigit() takes for digits but int() cannot read ("²", "¹") import,
sorted with the names, not as numbers (they used to fail the import with a ValueError)."""

from mlstrat.datasets.models import Dataset
from mlstrat.imports.models import JobStatus

from .builders import rows, zip_dump


def test_superscript_and_other_digit_like_labels_import(run_import):
    table = rows(6)
    for row, label in zip(table, ["²", "10", "2", "¹", "cat", "١"], strict=True):
        row["label"] = row["prediction"] = label
    job = run_import(zip_dump(table))
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert Dataset.objects.get(name="photos").class_names == ["2", "10", "cat", "²", "¹", "١"]
