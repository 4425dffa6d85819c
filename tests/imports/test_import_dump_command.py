from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from mlstrat.datasets.models import Example, ModelRun, RunStatus
from mlstrat.imports.models import ImportJob, JobStatus

from .builders import rows, zip_dump


def run_command(*args):
    out, err = StringIO(), StringIO()
    call_command("import_dump", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_the_digits_dump_with_a_progress_bar(project, digits_zip):
    out, err = run_command(
        "--project", "cat-app", "--dataset", "digits", "--run", "logreg-c0.5", str(digits_zip)
    )
    assert "Imported 1797 rows as run “logreg-c0.5”." in out
    assert "checking rows" in err and "1797/1797" in err
    assert Example.objects.count() == 1797
    job = ImportJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED
    assert job.thumbnails_done == 1797


def test_it_fails_with_the_row_errors(project, tmp_path):
    dump = tmp_path / "bad.zip"
    dump.write_bytes(zip_dump(rows(3, split="holdout")).getvalue())
    with pytest.raises(CommandError, match="Nothing was imported"):
        out, err = StringIO(), StringIO()
        try:
            call_command(
                "import_dump",
                "--project",
                "cat-app",
                "--dataset",
                "d",
                "--run",
                "r",
                str(dump),
                stdout=out,
                stderr=err,
            )
        finally:
            assert "line 2 [split]: unknown split 'holdout'" in err.getvalue()
    assert not ModelRun.objects.exists()


def test_it_refuses_a_taken_run_name_unless_replace(project, tmp_path):
    dump = tmp_path / "d.zip"
    dump.write_bytes(zip_dump(rows(3)).getvalue())
    args = ["--project", "cat-app", "--dataset", "d", "--run", "r", str(dump)]
    run_command(*args)
    with pytest.raises(CommandError, match="already exists"):
        run_command(*args)
    run_command(*args, "--replace")
    assert ModelRun.objects.filter(status=RunStatus.READY).count() == 1


def test_it_refuses_an_unknown_project(db, tmp_path):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        run_command("--project", "nope", "--dataset", "d", "--run", "r", str(tmp_path))
