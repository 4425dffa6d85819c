"""Array literals for PostgreSQL, written by our own code (mlstrat/sqltext.py); that they
read back exactly is tested where they are used (tests/mismatch/test_characteristics_save.py,
the thumbnails' ranges in tests/imports/test_thumbnails.py)."""

import numpy as np
import pytest

from mlstrat.sqltext import array_literal


@pytest.mark.parametrize(
    "numbers, text",
    [
        ([], "{}"),
        ([1, np.int64(2)], "{1,2}"),
        ([0.5, np.float64(0.25)], "{0.5,0.25}"),
        ([float("nan"), float("inf"), -float("inf")], "{NaN,Infinity,-Infinity}"),
    ],
)
def test_array_literal(numbers, text):
    assert array_literal(numbers) == text
