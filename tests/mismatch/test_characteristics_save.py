"""characteristics_save stores every measured value exactly as measured: on PostgreSQL the
values travel as array literals written by our own code, so the class of numbers a
measurement can give (the smallest and largest doubles, values that have no short
decimal, numpy's own scalar types, NaN and the infinities) must come back unchanged."""

import math
import sys

import numpy as np
import pytest
from django.db import connection

from mlstrat.mismatch.characteristics import NAMES
from mlstrat.mismatch.models import ExampleCharacteristics
from mlstrat.mismatch.services import characteristics_save
from tests.factories import DatasetFactory, ExampleFactory

AWKWARD = [
    0.0,
    -0.0,
    0.1 + 0.2,
    1 / 3,
    5e-324,
    sys.float_info.max,
    -2.5e-17,
    np.float64(2 / 3),
    np.float32(0.1),
]
# PostgreSQL keeps these (SQLite stores NaN as NULL, which no measured column accepts).
NOT_FINITE = [float("nan"), float("inf"), float("-inf")]


def same(stored, expected) -> bool:
    expected = float(expected)
    if math.isnan(expected):
        return math.isnan(stored)
    return stored == expected


@pytest.mark.parametrize("kinds", ["finite", "not finite"])
def test_every_kind_of_value_comes_back_exactly(project, kinds):
    if kinds == "not finite" and connection.vendor != "postgresql":
        pytest.skip("SQLite stores NaN as NULL")
    awkward_values = AWKWARD if kinds == "finite" else NOT_FINITE
    dataset = DatasetFactory(project=project)
    examples = [
        ExampleFactory(dataset=dataset, example_id=f"e{i}") for i in range(len(awkward_values))
    ]
    values = {}
    for i, (example, awkward) in enumerate(zip(examples, awkward_values, strict=True)):
        row = {name: awkward for name in NAMES}
        # Sizes are integers; numpy's integers too.
        row.update(width=np.int64(i + 1), height=i + 2)
        values[example.pk] = row
    assert characteristics_save(values=values) == len(examples)
    for example, awkward in zip(examples, awkward_values, strict=True):
        stored = ExampleCharacteristics.objects.get(example=example)
        for name in NAMES:
            if name in ("width", "height"):
                continue
            assert same(getattr(stored, name), awkward), (name, awkward, getattr(stored, name))
        assert (stored.width, stored.height) == (
            values[example.pk]["width"],
            values[example.pk]["height"],
        )
        assert (stored.dataset_id, stored.split, stored.source) == (
            dataset.pk,
            example.split,
            example.source,
        )


def test_a_row_written_meanwhile_is_kept_not_failed(project):
    dataset = DatasetFactory(project=project)
    first, second = (ExampleFactory(dataset=dataset, example_id=f"e{i}") for i in range(2))
    row = {name: 1.5 for name in NAMES} | {"width": 3, "height": 2}
    characteristics_save(values={first.pk: row})
    assert characteristics_save(values={first.pk: row | {"brightness": 9.0}, second.pk: row}) in (
        1,
        2,
    )
    assert ExampleCharacteristics.objects.get(example=first).brightness == 1.5
    assert ExampleCharacteristics.objects.get(example=second).brightness == 1.5
