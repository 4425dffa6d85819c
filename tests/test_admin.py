"""Django admin lists and searches every model of the domain."""

import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import PredictionFactory, UserFactory

MODELS = [
    "accounts.user",
    "accounts.project",
    "accounts.membership",
    "accounts.invitation",
    "datasets.dataset",
    "datasets.example",
    "datasets.modelrun",
    "datasets.prediction",
    "review.errorcategory",
    "review.review",
    "review.reviewitem",
    "review.tag",
    "review.tagevent",
    "review.comment",
    "labels.labelcorrection",
    "labels.labelchange",
    "analytics.analysissnapshot",
    "imports.importjob",
    "mismatch.examplecharacteristics",
    "mismatch.characteristicreview",
    "mismatch.synthesisrecipe",
    "mismatch.synthesisjob",
]


def test_every_domain_model_is_registered():
    registered = {m._meta.label_lower for m in admin.site._registry}
    ours = {
        m._meta.label_lower
        for m in apps.get_models()
        if m.__module__.startswith("mlstrat.") and not m._meta.auto_created
    }
    assert ours - registered == set()
    assert set(MODELS) <= registered


@pytest.mark.parametrize("label", MODELS)
def test_admin_lists_and_searches(client, db, label):
    PredictionFactory()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    app, model = label.split(".")
    response = client.get(f"/admin/{app}/{model}/", {"q": "cat"})
    assert response.status_code == 200
