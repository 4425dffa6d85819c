"""An import may not create a dataset or run whose name only looks like an existing one."""

import pytest
from django.core.exceptions import ValidationError

from mlstrat.imports.services import import_job_create
from tests.factories import DatasetFactory, RunFactory


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "dump.zip"
    path.write_bytes(b"PK")
    return str(path)


def start(project, user, dump, dataset_name, run_name):
    return import_job_create(
        project=project,
        user=user,
        dataset_name=dataset_name,
        run_name=run_name,
        server_path=dump,
        allow_any_path=True,
        enqueue=False,
    )


def test_a_look_alike_dataset_name_is_refused(project, alice, dump):
    DatasetFactory(project=project, name="pets")
    with pytest.raises(ValidationError) as caught:
        start(project, alice, dump, "p\u0435ts", "v1")  # Cyrillic е
    assert caught.value.message_dict["dataset"] == [
        "“p\u0435ts” looks like the existing dataset “pets”."
    ]


def test_a_look_alike_run_name_is_refused(project, alice, dump):
    dataset = DatasetFactory(project=project, name="pets")
    RunFactory(dataset=dataset, name="resnet-1")
    with pytest.raises(ValidationError) as caught:
        start(project, alice, dump, "pets", "resnet-l")  # l for 1
    assert "looks like the existing run “resnet-1”" in caught.value.message_dict["run"][0]


def test_invisible_characters_in_names_are_refused(project, alice, dump):
    with pytest.raises(ValidationError) as caught:
        start(project, alice, dump, "pets\u202e", "run\u200b")
    assert set(caught.value.message_dict) == {"dataset", "run"}


def test_the_same_dataset_and_a_new_run_are_fine(project, alice, dump):
    dataset = DatasetFactory(project=project, name="pets")
    RunFactory(dataset=dataset, name="resnet-1")
    job = start(project, alice, dump, "pets", "resnet-2")
    assert (job.dataset, job.run_name) == (dataset, "resnet-2")
