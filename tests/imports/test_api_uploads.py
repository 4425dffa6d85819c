"""The chunked upload routes: who may use them, and what a wrong chunk gets."""

from mlstrat.imports import uploads
from mlstrat.imports.models import ImportJob, ImportUpload, JobStatus

from .builders import rows, zip_dump

CHUNK = "application/offset+octet-stream"


def begin(api, size=10, **fields):
    data = {"project": "cat-app", "file_name": "dump.zip", "size": size, **fields}
    return api.post("/api/v1/import-uploads/", data, format="json")


def send(api, upload_id, offset, body):
    return api.patch(
        f"/api/v1/import-uploads/{upload_id}/",
        body,
        content_type=CHUNK,
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def test_an_admin_sends_a_dump_in_chunks_and_imports_it(
    api, alice, django_capture_on_commit_callbacks
):
    api.force_authenticate(alice)
    data = zip_dump(rows(3)).getvalue()
    upload = begin(api, size=len(data)).json()
    assert (upload["received"], upload["is_complete"]) == (0, False)
    middle = len(data) // 2
    assert send(api, upload["id"], 0, data[:middle]).json()["received"] == middle
    assert send(api, upload["id"], middle, data[middle:]).json()["is_complete"] is True
    fields = {"project": "cat-app", "dataset": "d", "run": "r", "upload": upload["id"]}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/imports/", fields, format="json")
    assert response.status_code == 202
    job = ImportJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED and job.rows_written == 3
    assert not ImportUpload.objects.exists()


def test_a_chunk_at_the_wrong_offset_gets_409_with_the_offset_held(api, alice):
    api.force_authenticate(alice)
    upload = begin(api).json()
    send(api, upload["id"], 0, b"12345")
    again = send(api, upload["id"], 0, b"12345")
    assert again.status_code == 409 and again.json()["received"] == 5
    assert send(api, upload["id"], 7, b"890").status_code == 409
    assert ImportUpload.objects.get().received == 5


def test_bad_chunks_are_refused_with_a_reason(api, alice, monkeypatch):
    api.force_authenticate(alice)
    upload = begin(api).json()
    assert send(api, upload["id"], 0, b"x" * 11).status_code == 400  # past the size
    no_offset = api.patch(f"/api/v1/import-uploads/{upload['id']}/", b"x", content_type=CHUNK)
    assert no_offset.status_code == 400 and "Upload-Offset" in no_offset.json()
    monkeypatch.setattr(uploads, "CHUNK_MAX_BYTES", 4)
    assert send(api, upload["id"], 0, b"12345").status_code == 413


def test_an_incomplete_upload_cannot_be_imported(api, alice):
    api.force_authenticate(alice)
    upload = begin(api).json()
    fields = {"project": "cat-app", "dataset": "d", "run": "r", "upload": upload["id"]}
    response = api.post("/api/v1/imports/", fields, format="json")
    assert response.status_code == 400
    assert "holds 0 of its 10 bytes" in response.json()["upload"][0]


def test_an_upload_over_the_size_cap_is_refused_at_once(api, alice, settings):
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 100
    api.force_authenticate(alice)
    response = begin(api, size=101)
    assert response.status_code == 400 and "over 100 bytes" in response.json()["size"][0]


def test_leads_get_403_and_outsiders_404(api, alice, bob, mallory):
    api.force_authenticate(alice)
    upload = begin(api).json()
    api.force_authenticate(bob)
    assert begin(api).status_code == 403
    assert send(api, upload["id"], 0, b"1").status_code == 403
    assert api.get("/api/v1/import-uploads/").json()["results"] == []
    api.force_authenticate(mallory)
    assert begin(api).status_code == 404
    assert api.get(f"/api/v1/import-uploads/{upload['id']}/").status_code == 404
    assert send(api, upload["id"], 0, b"1").status_code == 404
    assert ImportUpload.objects.get().received == 0


def test_abandoned_uploads_are_removed(api, alice):
    from datetime import timedelta

    from django.utils import timezone

    api.force_authenticate(alice)
    upload = begin(api).json()
    send(api, upload["id"], 0, b"12345")
    ImportUpload.objects.update(updated_at=timezone.now() - timedelta(days=2))
    assert uploads.import_uploads_expire() == 1
    assert not ImportUpload.objects.exists()
