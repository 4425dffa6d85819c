"""The error sheet filters by range on each measured characteristic."""

import pytest

from mlstrat.mismatch.models import ExampleCharacteristics
from mlstrat.review.selectors import BadSheetQuery, SheetQuery

from .builders import make_dataset


def test_a_range_on_sharpness_keeps_the_blurry_dev_errors(as_user, carol, project):
    _, run = make_dataset(project)
    errors = ExampleCharacteristics.objects.filter(
        example__predictions__run=run, example__predictions__is_error=True, split="dev"
    )
    cut = sorted(errors.values_list("sharpness", flat=True))[len(errors) // 2]
    blurry = set(errors.filter(sharpness__lte=cut).values_list("example_id", flat=True))
    client = as_user(carol)
    body = client.get(f"/api/v1/runs/{run.pk}/sheet/?split=dev&char_sharpness_max={cut}").json()
    assert {row["example"] for row in body["rows"]} == blurry
    page = client.get(f"/p/cat-app/runs/{run.pk}/sheet/?char_sharpness_max={cut}")
    assert page.status_code == 200
    assert f'name="char_sharpness_max" value="{cut}"' in page.content.decode()


def test_ranges_are_parsed_and_checked():
    query = SheetQuery.from_params({"char_noise_min": "2.5", "char_width_max": "64"})
    assert query.ranges == {"noise": (2.5, None), "width": (None, 64.0)}
    with pytest.raises(BadSheetQuery, match="char_noise_min must be a number"):
        SheetQuery.from_params({"char_noise_min": "lots"})
    with pytest.raises(BadSheetQuery):
        SheetQuery.from_params({"char_noise_min": "nan"})
