"""The thumbnail pass measures every new example; a backfill measures the rest."""

from io import StringIO

import pytest
from django.core.management import call_command

from mlstrat.datasets.models import Example
from mlstrat.imports.models import JobStatus
from mlstrat.mismatch.characteristics import measure_image
from mlstrat.mismatch.models import ExampleCharacteristics
from mlstrat.mismatch.services import decoded_for_measure


def test_an_import_measures_every_new_example(run_import, digits_zip, settings):
    job = run_import(digits_zip, dataset="digits", run="logreg-c0.5")
    assert job.status == JobStatus.SUCCEEDED
    assert ExampleCharacteristics.objects.count() == 1797
    example = Example.objects.get(example_id="d0671")
    stored = ExampleCharacteristics.objects.get(example=example)
    assert (stored.split, stored.source) == (example.split, example.source)
    with open(settings.MEDIA_ROOT / example.image.name, "rb") as handle:
        image, size = decoded_for_measure(handle)
        expected = measure_image(image, size)
    for name, value in expected.items():
        assert getattr(stored, name) == pytest.approx(value)
    assert (stored.width, stored.height, stored.aspect) == (32, 32, 1.0)


def test_the_backfill_measures_what_the_import_did_not(run_import, digits_zip):
    run_import(digits_zip, dataset="digits", run="logreg-c0.5")
    ExampleCharacteristics.objects.filter(split="dev").delete()
    missing = Example.objects.filter(split="dev").count()
    out = StringIO()
    call_command(
        "measure_characteristics", "--project", "cat-app", "--dataset", "digits", stdout=out
    )
    assert f"{missing} example" in out.getvalue()
    assert ExampleCharacteristics.objects.count() == 1797
    call_command(
        "measure_characteristics", "--project", "cat-app", "--dataset", "digits", stdout=out
    )
    assert ExampleCharacteristics.objects.count() == 1797
