import shutil
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.imports import services
from tests.celery_worker import celery_worker  # noqa: F401  (a fixture for worker tests)

DIGITS = Path(__file__).resolve().parents[2] / "mlstrat" / "demo" / "dumps"
SHARED_DIGITS = Path("/work/shared/fixtures/digits")


@pytest.fixture
def digits_zip():
    """The digits fixture dump (run 1); the shared copy when present, else the demo copy."""
    shared = SHARED_DIGITS / "run1-logreg-c0.5.zip"
    return shared if shared.exists() else DIGITS / "run1-logreg-c0.5.zip"


@pytest.fixture
def run_import(project, alice, django_capture_on_commit_callbacks):
    """Create an import job from a zip (bytes buffer or path) and run it as a worker would."""

    def _run(dump, *, dataset="photos", run="v1", **options):
        if isinstance(dump, Path | str):
            upload = SimpleUploadedFile(Path(dump).name, Path(dump).read_bytes())
        else:
            upload = SimpleUploadedFile("dump.zip", dump.getvalue())
        with django_capture_on_commit_callbacks(execute=True):
            job = services.import_job_create(
                project=project,
                user=alice,
                dataset_name=dataset,
                run_name=run,
                upload=upload,
                **options,
            )
        job.refresh_from_db()
        return job

    return _run


@pytest.fixture(autouse=True)
def _clean_media(settings):
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
