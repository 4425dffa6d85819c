from mlstrat.datasets.models import Example, ModelRun
from mlstrat.imports.models import ImportJob, JobStatus

from .builders import rows, zip_dump


def post_import(api, dump, **fields):
    data = {"project": "cat-app", "dataset": "photos", "run": "v1", "file": dump, **fields}
    return api.post("/api/v1/imports/", data, format="multipart")


def test_an_admin_uploads_a_dump_and_gets_202_with_the_job(
    api, alice, django_capture_on_commit_callbacks
):
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, zip_dump(rows(4)))
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.json()["run_name"] == "v1"
    state = api.get(f"/api/v1/imports/{job_id}/").json()
    assert state["status"] == JobStatus.SUCCEEDED
    assert state["rows_written"] == 4
    assert state["run"] == ModelRun.objects.get().pk
    assert state["is_finished"] is True


def test_the_digits_dump_through_the_api(
    api, alice, digits_zip, django_capture_on_commit_callbacks
):
    api.force_authenticate(alice)
    with digits_zip.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, handle, dataset="digits", run="logreg-c0.5")
    assert response.status_code == 202
    state = api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert state["status"] == JobStatus.SUCCEEDED
    assert Example.objects.count() == 1797


def test_a_failed_import_shows_its_row_errors(api, alice, django_capture_on_commit_callbacks):
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, zip_dump(rows(3, split="holdout")))
    state = api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert state["status"] == JobStatus.FAILED
    assert state["error_count"] == 3
    assert state["errors"][0] == {
        "line": 2,
        "column": "split",
        "message": "unknown split 'holdout': use train, train_dev, dev or test",
    }


def test_a_lead_cannot_start_an_import(api, bob):
    api.force_authenticate(bob)
    response = post_import(api, zip_dump(rows(2)))
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_an_outsider_gets_404(api, mallory, project):
    api.force_authenticate(mallory)
    assert post_import(api, zip_dump(rows(2))).status_code == 404


def test_members_read_jobs_outsiders_do_not(api, run_import, carol, mallory):
    job = run_import(zip_dump(rows(2)))
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/imports/{job.pk}/").status_code == 200
    assert [j["id"] for j in api.get("/api/v1/imports/").json()["results"]] == [job.pk]
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/imports/{job.pk}/").status_code == 404
    assert api.get("/api/v1/imports/").json()["results"] == []


def test_a_run_name_taken_is_409_unless_replace(
    api, alice, run_import, django_capture_on_commit_callbacks
):
    run_import(zip_dump(rows(2)))
    api.force_authenticate(alice)
    response = post_import(api, zip_dump(rows(2)))
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, zip_dump(rows(2)), replace="true")
    assert response.status_code == 202


def test_missing_fields_are_400_with_reasons(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/imports/", {"project": "cat-app"}, format="multipart")
    assert response.status_code == 400
    assert set(response.json()) >= {"dataset", "run"}
    response = api.post(
        "/api/v1/imports/",
        {"project": "cat-app", "dataset": "d", "run": "r"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "Upload a dump" in response.json()["file"][0]


def test_a_server_path_outside_the_roots_is_400(api, alice, settings):
    settings.MLSTRAT_IMPORT_ROOTS = []
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/imports/",
        {"project": "cat-app", "dataset": "d", "run": "r", "server_path": "/etc"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "MLSTRAT_IMPORT_ROOTS" in response.json()["server_path"][0]


def test_a_table_with_images_under_an_import_root(
    api, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    from .builders import csv_text, png_bytes

    settings.MLSTRAT_IMPORT_ROOTS = [str(tmp_path)]
    (tmp_path / "images").mkdir()
    table = rows(3)
    for row in table:
        (tmp_path / row["image"]).write_bytes(png_bytes())
    (tmp_path / "predictions.csv").write_text(csv_text(table))
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/imports/",
            {"project": "cat-app", "dataset": "d", "run": "r", "server_path": str(tmp_path)},
            format="multipart",
        )
    assert response.status_code == 202
    state = api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert state["status"] == JobStatus.SUCCEEDED and state["rows_written"] == 3


def test_an_uploaded_table_with_its_images_already_on_the_server(
    api, alice, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .builders import csv_text, png_bytes

    settings.MLSTRAT_IMPORT_ROOTS = [str(tmp_path)]
    (tmp_path / "images").mkdir()
    table = rows(3)
    for row in table:
        (tmp_path / row["image"]).write_bytes(png_bytes())
    upload = SimpleUploadedFile("predictions.csv", csv_text(table).encode())
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/imports/",
            {
                "project": "cat-app",
                "dataset": "d",
                "run": "r",
                "file": upload,
                "images_dir": str(tmp_path),
            },
            format="multipart",
        )
    state = api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert state["status"] == JobStatus.SUCCEEDED, state["message"]
    assert Example.objects.count() == 3


def test_the_upload_is_answered_before_any_work_and_the_dump_is_dropped_after(
    api, alice, digits_zip, monkeypatch
):
    import time

    from django.core.files.storage import default_storage

    from mlstrat.imports import services

    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda *, job_id: queued.append(job_id))
    api.force_authenticate(alice)
    started = time.perf_counter()
    with digits_zip.open("rb") as handle:
        response = post_import(api, handle, dataset="digits", run="r")
    assert time.perf_counter() - started < 2
    assert response.status_code == 202
    assert response.json()["status"] == JobStatus.QUEUED
    job = ImportJob.objects.get()
    assert default_storage.exists(job.upload.name)
    stored = job.upload.name
    job = services.import_job_run(job_id=job.pk)
    assert job.status == JobStatus.THUMBNAILS or job.is_finished
    assert not default_storage.exists(stored)
