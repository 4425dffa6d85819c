import shutil
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from mlstrat.accounts.models import Membership, Project
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus
from mlstrat.imports.models import ImportJob
from mlstrat.review.models import Tag


@pytest.fixture(autouse=True)
def _clean_media(settings):
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def load():
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_it_loads_the_digits_demo_through_the_import_pipeline(db):
    out = load()
    project = Project.objects.get(slug="digits-demo")
    assert project.name == "Digits demo"
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {
        "admin": "admin",
        "lead": "lead",
        "annotator": "annotator",
        "annotator2": "annotator",
    }
    dataset = Dataset.objects.get(project=project, name="digits")
    assert dataset.human_level_error == 0.005
    runs = ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY).order_by("id")
    assert [run.name for run in runs] == ["logreg-c0.5", "logreg-c5"]
    assert Example.objects.filter(dataset=dataset).count() == 1797
    assert Prediction.objects.filter(run__dataset=dataset).count() == 2 * 1797
    assert ImportJob.objects.filter(dataset=dataset, status="succeeded").count() == 2
    for run in runs:
        review = run.reviews.get()
        dev_errors = run.predictions.filter(split="dev", is_error=True).count()
        assert review.items.count() == min(100, dev_errors) > 0
        tagged_by = set(Tag.objects.filter(run=run).values_list("user__username", flat=True))
        assert tagged_by == {"annotator", "annotator2"}
    assert "admin       / demo-pass-2026" in out
    assert authenticate(username="lead", password="demo-pass-2026") is not None


def test_running_it_twice_does_nothing_the_second_time(db):
    load()
    counts = (
        ImportJob.objects.count(),
        Example.objects.count(),
        Prediction.objects.count(),
        Tag.objects.count(),
    )
    load()
    assert (
        ImportJob.objects.count(),
        Example.objects.count(),
        Prediction.objects.count(),
        Tag.objects.count(),
    ) == counts
    assert Project.objects.filter(slug="digits-demo").count() == 1


def test_the_demo_shows_a_mismatch_the_characteristics_find_first(db):
    from mlstrat.mismatch import selectors
    from mlstrat.mismatch.models import CharacteristicReview, SynthesisRecipe

    load()
    dataset = Dataset.objects.get(name="digits")
    comparison = selectors.characteristics_comparison(dataset=dataset)
    assert comparison["measured"] == 1797
    headline = comparison["headline"]
    assert headline["sentence"].startswith("dev is much blurrier than train")
    assert headline["ks"] > 0.7
    figures = selectors.review_figures(review=CharacteristicReview.objects.get(dataset=dataset))
    assert figures["categories"][0]["name"] == "Blurry"
    assert figures["categories"][0]["difference"]["low"] > 0
    assert SynthesisRecipe.objects.filter(dataset=dataset, name="blurry-phone").exists()


def test_the_demo_has_a_multitask_dataset_imported_through_the_dump(db):
    load()
    dataset = Dataset.objects.get(name="digits-multitask")
    assert dataset.tasks == ["is even", "is > 4", "digit", "is round"]
    assert dataset.classes_for("is even") == ["0", "1"]
    assert ImportJob.objects.filter(dataset=dataset, status="succeeded").count() == 2
    examples = Example.objects.filter(dataset=dataset)
    images = examples.values("example_id").distinct().count()
    assert examples.count() == 4 * images
    unknown = examples.filter(label="").count() / examples.count()
    assert 0.10 < unknown < 0.20
    assert not Prediction.objects.filter(example__label="", is_error__isnull=False).exists()
    for run in ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY):
        review = run.reviews.get()
        assert review.task == "digit"
        assert set(review.items.values_list("example__task", flat=True)) == {"digit"}
        assert Tag.objects.filter(run=run).exists()
