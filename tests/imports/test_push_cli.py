"""`mlstrat push` against a live server, run in-process."""

import shutil
import zipfile

import pytest

from mlstrat import cli
from mlstrat.datasets.models import Example, ModelRun, RunStatus
from mlstrat.imports.models import ImportJob, JobStatus
from tests.factories import api_token

from .builders import rows, zip_dump

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(alice):
    return api_token(alice)


def push(live_server, token, path, *extra, run="v1", dataset="photos"):
    return cli.main(
        [
            "push",
            "--server",
            live_server.url,
            "--token",
            token,
            "--project",
            "cat-app",
            "--dataset",
            dataset,
            "--run",
            run,
            "--quiet",
            *extra,
            str(path),
        ]
    )


def test_it_pushes_the_digits_zip_and_follows_it(live_server, token, digits_zip, capsys):
    assert push(live_server, token, digits_zip, run="logreg-c0.5", dataset="digits") == 0
    out = capsys.readouterr().out
    assert "Imported 1797 rows as run “logreg-c0.5”." in out
    assert Example.objects.count() == 1797
    job = ImportJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.created_by.username == "alice"


def test_it_zips_a_folder_on_the_fly(live_server, token, digits_zip, tmp_path):
    folder = tmp_path / "dump"
    with zipfile.ZipFile(digits_zip) as archive:
        archive.extractall(folder)
    assert push(live_server, token, folder) == 0
    assert ModelRun.objects.get(status=RunStatus.READY).predictions.count() == 1797


def test_a_failed_import_exits_non_zero_with_the_row_errors(live_server, token, tmp_path, capsys):
    dump = tmp_path / "bad.zip"
    dump.write_bytes(zip_dump(rows(2, split="holdout")).getvalue())
    assert push(live_server, token, dump) == 1
    err = capsys.readouterr().err
    assert "Import failed: Nothing was imported" in err
    assert "line 2 [split]: unknown split 'holdout'" in err
    assert "push again with --skip-invalid" in err and "tick" not in err
    assert not ModelRun.objects.exists()


def test_a_refused_upload_exits_2_with_the_reason(live_server, token, tmp_path, capsys):
    dump = tmp_path / "d.zip"
    dump.write_bytes(zip_dump(rows(2)).getvalue())
    assert push(live_server, token, dump) == 0
    assert push(live_server, token, dump) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Push it with --replace" in err
    assert push(live_server, token, dump, "--replace") == 0


def test_a_bad_token_exits_2(live_server, db, tmp_path, capsys, project):
    dump = tmp_path / "d.zip"
    shutil.copy(__file__, dump)
    assert push(live_server, "wrong", dump) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_an_expired_token_is_explained(live_server, token, tmp_path, capsys):
    from datetime import timedelta

    from django.utils import timezone

    from mlstrat.accounts.models import ApiToken

    ApiToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    path = tmp_path / "dump.zip"
    path.write_bytes(zip_dump(rows(3)).getvalue())
    assert push(live_server, token, path) == 2
    assert "HTTP 401: This token expired on" in capsys.readouterr().err
    assert not ImportJob.objects.exists()
