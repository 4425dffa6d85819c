"""Free text is capped (descriptions and notes at 10,000 characters, in the API, the
services and the database), names of projects refuse invisible characters, and the project
list serves a short excerpt of each description."""

import pytest
from django.db import IntegrityError, transaction

from mlstrat.accounts.models import Project
from mlstrat.accounts.services import project_create
from mlstrat.datasets.models import Dataset, ModelRun
from mlstrat.names import TEXT_MAX_LENGTH
from tests.factories import DatasetFactory, RunFactory

TOO_LONG = "x" * (TEXT_MAX_LENGTH + 1)


@pytest.fixture
def dataset(project):
    return DatasetFactory(project=project, name="pets")


def test_a_project_description_is_capped_in_the_api(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/projects/", {"name": "P", "description": TOO_LONG}, format="json")
    assert response.status_code == 400
    assert "10000" in str(response.json()) or "10,000" in str(response.json())
    assert not Project.objects.filter(name="P").exists()


def test_a_dataset_description_and_run_notes_are_capped(api, bob, alice, dataset):
    api.force_authenticate(bob)
    response = api.patch(
        f"/api/v1/datasets/{dataset.pk}/", {"description": TOO_LONG}, format="json"
    )
    assert response.status_code == 400
    run = RunFactory(dataset=dataset, name="r1")
    api.force_authenticate(alice)
    response = api.patch(f"/api/v1/runs/{run.pk}/", {"notes": TOO_LONG}, format="json")
    assert response.status_code == 400
    ok = "y" * TEXT_MAX_LENGTH
    assert api.patch(f"/api/v1/runs/{run.pk}/", {"notes": ok}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("model", "field"),
    [(Project, "description"), (Dataset, "description"), (ModelRun, "notes")],
)
def test_the_database_refuses_longer_text(model, field, project, dataset):
    row = {Project: project, Dataset: dataset, ModelRun: None}[model] or RunFactory(dataset=dataset)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{field: TOO_LONG})


def test_the_project_list_serves_an_excerpt(client, alice):
    project = project_create(name="Big", owner=alice, description="word " * 1900)
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    assert project.name in response.content.decode()
    assert len(response.content) < 9000


@pytest.mark.parametrize("name", ["\u202eevil", "a\u200bb", "x\x00y"])
def test_a_project_name_with_invisible_characters_is_refused_on_the_page(client, alice, name):
    client.force_login(alice)
    response = client.post("/", {"name": name}, follow=True)
    assert response.status_code in (200, 400)
    assert not Project.objects.exclude(slug="cat-app").exists()


def test_a_project_name_is_normalised(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/projects/", {"name": "  Ｃat   app 2 "}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Cat app 2"
