from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.datasets.models import ModelRun
from mlstrat.imports.models import ImportJob, JobStatus

from .builders import rows, zip_dump


def upload(name="dump.zip", dump=None):
    return SimpleUploadedFile(name, (dump or zip_dump(rows(4))).getvalue())


def test_an_admin_sees_the_form_and_the_empty_state(as_user, alice):
    response = as_user(alice).get("/p/cat-app/imports/")
    assert response.status_code == 200
    assert b"Upload and import" in response.content
    assert b"No imports yet" in response.content


def test_the_project_home_links_to_the_import_page(as_user, alice):
    response = as_user(alice).get("/p/cat-app/")
    assert b"/p/cat-app/imports/" in response.content


def test_leads_and_outsiders_cannot_open_it(as_user, bob, mallory):
    assert as_user(bob).get("/p/cat-app/imports/").status_code == 403
    assert as_user(mallory).get("/p/cat-app/imports/").status_code == 404


def test_an_admin_uploads_into_a_new_dataset_and_follows_the_job(
    as_user, alice, django_capture_on_commit_callbacks
):
    client = as_user(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/p/cat-app/imports/",
            {"dataset": "__new__", "new_dataset": "photos", "run": "v1", "file": upload()},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/p/cat-app/imports/{job.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"4</strong> rows imported" in page.content
    assert f'data-job-url="/api/v1/imports/{job.pk}/"'.encode() in page.content
    assert job.status == JobStatus.SUCCEEDED
    listing = client.get("/p/cat-app/imports/")
    assert b"badge-ok" in listing.content and b"v1" in listing.content


def test_the_digits_dump_through_the_page(
    as_user, alice, digits_zip, django_capture_on_commit_callbacks
):
    client = as_user(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/p/cat-app/imports/",
            {
                "dataset": "__new__",
                "new_dataset": "digits",
                "run": "logreg-c0.5",
                "file": SimpleUploadedFile("digits.zip", digits_zip.read_bytes()),
            },
        )
    job = ImportJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.rows_written == 1797


def test_a_failed_job_page_lists_the_row_errors_escaped(
    as_user, alice, django_capture_on_commit_callbacks
):
    client = as_user(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/p/cat-app/imports/",
            {
                "dataset": "__new__",
                "new_dataset": "photos",
                "run": "v1",
                "file": upload(dump=zip_dump(rows(2, split="<script>x</script>"))),
            },
        )
    response = client.get(response["Location"])
    assert b"2 problems" in response.content
    assert b"&lt;script&gt;" in response.content and b"<script>x" not in response.content
    assert not ModelRun.objects.exists()


def test_a_taken_run_name_is_refused_with_a_message(as_user, alice, run_import):
    run_import(zip_dump(rows(2)), dataset="photos", run="v1")
    response = as_user(alice).post(
        "/p/cat-app/imports/", {"dataset": "photos", "run": "v1", "file": upload()}
    )
    assert response.status_code == 409
    assert "already exists in dataset “photos”".encode() in response.content
    assert ImportJob.objects.count() == 1


def test_a_missing_file_is_refused_with_a_message(as_user, alice):
    response = as_user(alice).post(
        "/p/cat-app/imports/", {"dataset": "__new__", "new_dataset": "d", "run": "v1"}
    )
    assert response.status_code == 400
    assert b"Upload a dump" in response.content
    assert not ImportJob.objects.exists()
