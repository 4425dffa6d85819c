"""#13.1: request bodies are refused before anyone reads them. Against a live server, over a
real socket: only the headers are sent, and the answer must come before the body does;
nothing may reach the temporary upload folder. Caps per route and caller: a small one
everywhere, import-sized on the import routes for the project's admins only."""

import http.client
import io
import time
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponse
from django.test import Client, RequestFactory

from mlstrat.imports.models import ImportUpload
from mlstrat.web import body_limits
from tests.factories import api_token
from tests.services import app_env, web_server  # noqa: F401  (a fixture)

MiB = 1024 * 1024
BOUNDARY = "----mlstrat-test-boundary"
# Anyone gets a CSRF cookie by opening the login page; with it Django reads a POST's body.
CSRF_COOKIE = "csrftoken=" + "a" * 32


@pytest.fixture
def spooled(settings, tmp_path, monkeypatch):
    """The temporary upload folder, and every temporary upload file Django starts."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    started = []
    original = TemporaryFileUploadHandler.new_file

    def new_file(self, *args, **kwargs):
        started.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", new_file)
    return folder, started


@pytest.fixture
def small_imports(settings):
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 4 * MiB


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}; {CSRF_COOKIE}"


def headers_only(server_url, method, path, length, **headers):
    """Send the request line and headers, never the body; the answer must come anyway."""
    parts = urlsplit(server_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    connection.putrequest(method, path)
    headers.setdefault("Content_Type", f"multipart/form-data; boundary={BOUNDARY}")
    if length is not None:
        connection.putheader("Content-Length", str(length))
    for key, value in headers.items():
        connection.putheader(key.replace("_", "-"), value)
    connection.endheaders()
    started = time.monotonic()
    try:
        response = connection.getresponse()
        elapsed = time.monotonic() - started
        text = response.read().decode()
    finally:
        connection.close()
    return response, text, elapsed


def multipart(size: int) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="dump.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return head + b"\0" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_multi_mb_post_to_the_login_page_is_refused_before_it_is_read(
    live_server, spooled
):
    folder, started = spooled
    response, text, elapsed = headers_only(
        live_server.url, "POST", "/login/", 8 * MiB, Cookie=CSRF_COOKIE
    )
    assert response.status == 413
    assert "at most 1 MiB" in text
    assert elapsed < 2
    assert list(folder.iterdir()) == [] and started == []


@pytest.mark.django_db(transaction=True)
def test_the_whole_body_sent_anyway_writes_nothing(live_server, spooled):
    folder, started = spooled
    parts = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = multipart(8 * MiB)
    connection.request(
        "POST",
        "/login/",
        body=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Cookie": CSRF_COOKIE,
        },
    )
    assert connection.getresponse().status == 413
    connection.close()
    assert list(folder.iterdir()) == [] and started == []


@pytest.mark.django_db(transaction=True)
def test_a_body_without_a_length_is_refused(live_server, spooled):
    response, text, _ = headers_only(
        live_server.url, "POST", "/login/", None, Transfer_Encoding="chunked"
    )
    assert response.status == 411
    assert "Content-Length" in text


@pytest.mark.django_db(transaction=True)
def test_an_admins_oversized_import_is_refused_at_once(
    live_server, spooled, small_imports, alice, project
):
    folder, started = spooled
    response, text, elapsed = headers_only(
        live_server.url, "POST", "/p/cat-app/imports/", 6 * MiB, Cookie=session_cookie(alice)
    )
    assert response.status == 413
    assert "MLSTRAT_IMPORT_MAX_UPLOAD_BYTES" in text and elapsed < 2
    response, text, _ = headers_only(
        live_server.url,
        "POST",
        "/api/v1/imports/",
        6 * MiB,
        Authorization=f"Token {api_token(alice)}",
    )
    assert response.status == 413
    assert "at most 4 MiB" in response.getheader("Content-Type") + text
    assert list(folder.iterdir()) == [] and started == []


@pytest.mark.django_db(transaction=True)
def test_an_annotators_import_sized_post_is_refused(
    live_server, spooled, small_imports, alice, carol, project
):
    folder, started = spooled
    response, text, _ = headers_only(
        live_server.url, "POST", "/p/cat-app/imports/", 3 * MiB, Cookie=session_cookie(carol)
    )
    assert response.status == 413
    assert "only the project&#x27;s admins" in text
    upload = ImportUpload.objects.create(
        project=project, created_by=alice, file_name="dump.zip", size=20 * MiB
    )
    response, text, _ = headers_only(
        live_server.url,
        "PATCH",
        f"/api/v1/import-uploads/{upload.pk}/",
        8 * MiB,
        Authorization=f"Token {api_token(carol)}",
    )
    assert response.status == 413
    assert list(folder.iterdir()) == [] and started == []


@pytest.mark.django_db(transaction=True)
def test_an_admins_chunk_is_read(live_server, spooled, alice, project):
    """The route, the caller and the size that may pass: the server waits for the body."""
    upload = ImportUpload.objects.create(
        project=project, created_by=alice, file_name="dump.zip", size=20 * MiB
    )
    with pytest.raises(TimeoutError):
        headers_only(
            live_server.url,
            "PATCH",
            f"/api/v1/import-uploads/{upload.pk}/",
            8 * MiB,
            Authorization=f"Token {api_token(alice)}",
            Upload_Offset="0",
            Content_Type="application/offset+octet-stream",
        )


def test_an_admins_import_sized_upload_goes_through(as_user, alice, settings):
    """Through the page: a 3 MiB file (not a valid dump) reaches the import, which answers."""
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 4 * MiB
    response = as_user(alice).post(
        "/p/cat-app/imports/",
        {
            "dataset": "__new__",
            "new_dataset": "d",
            "run": "v1",
            "file": SimpleUploadedFile("dump.zip", b"\0" * 3 * MiB),
        },
    )
    assert response.status_code not in (411, 413, 503)


def test_ordinary_json_is_capped(api, carol):
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(carol)}")
    response = api.post("/api/v1/projects/", {"name": "x" * (2 * MiB)}, format="json")
    assert response.status_code == 413
    assert "at most 1 MiB" in response.json()["detail"]


def test_large_bodies_wait_for_a_slot(as_user, alice, settings):
    settings.MLSTRAT_UPLOAD_SLOTS = 1
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 16 * MiB
    cache.delete(body_limits.SLOT_KEY.format(0))
    client = as_user(alice)

    def post():
        return client.post(
            "/p/cat-app/imports/",
            {"run": "v1", "file": SimpleUploadedFile("dump.zip", b"\0" * 6 * MiB)},
        )

    release = body_limits.take_slot()  # another upload in flight
    busy = post()
    assert busy.status_code == 503 and int(busy["Retry-After"]) > 0
    release()
    assert post().status_code not in (413, 503)
    assert body_limits.take_slot() is not None  # the request gave its slot back
    cache.delete(body_limits.SLOT_KEY.format(0))


def test_large_bodies_need_free_disk(as_user, alice, settings):
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 16 * MiB
    settings.MLSTRAT_UPLOAD_DISK_RESERVE_BYTES = 10**18
    response = as_user(alice).post(
        "/p/cat-app/imports/", {"run": "v1", "file": SimpleUploadedFile("d.zip", b"\0" * 6 * MiB)}
    )
    assert response.status_code == 503


def test_a_body_that_streams_past_its_cap_is_cut_off(db):
    """A server that hands over more than the Content-Length said (chunked input passed
    through, a lying client): the count stops it at the cap."""
    request = RequestFactory().post("/login/", data=b"x" * 100, content_type="text/plain")
    request._stream = io.BytesIO(b"x" * (3 * MiB))

    def view(request):
        request.body  # noqa: B018  (reads the body, as a parser would)
        return HttpResponse("read it all")

    handler = body_limits.RequestBodyLimitMiddleware(convert_exception_to_response(view))
    response = handler(request)
    assert response.status_code == 413


def test_with_the_database_gone_an_import_body_gets_503_not_500(as_user, alice, monkeypatch):
    from django.db import OperationalError

    def gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    client = as_user(alice)
    monkeypatch.setattr(body_limits, "_may_import", gone)
    response = client.post("/p/cat-app/imports/", {"run": "v1"})
    assert response.status_code == 503 and response["Retry-After"]


def test_it_is_the_first_middleware():
    from mlstrat.settings import base

    assert base.MIDDLEWARE[0] == "mlstrat.web.body_limits.RequestBodyLimitMiddleware"


@pytest.mark.django_db(transaction=True)
def test_concurrent_large_uploads_beyond_the_slots_are_turned_away(
    live_server, spooled, alice, project, settings
):
    """Two admins' uploads at once with one slot: the first streams to a temporary file,
    the second is told to come back before it sends anything; the slot is given back."""
    folder, _ = spooled
    settings.MLSTRAT_UPLOAD_SLOTS = 1
    settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES = 16 * MiB
    cache.delete(body_limits.SLOT_KEY.format(0))
    parts = urlsplit(live_server.url)
    body = multipart(8 * MiB)
    first = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    first.putrequest("POST", "/p/cat-app/imports/")
    first.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    first.putheader("Content-Length", str(len(body)))
    first.putheader("Cookie", session_cookie(alice))
    first.endheaders()
    first.send(body[: 6 * MiB])
    deadline = time.monotonic() + 10
    while not list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(folder.iterdir())) == 1  # the first upload, on its way to disk

    response, text, elapsed = headers_only(
        live_server.url, "POST", "/p/cat-app/imports/", len(body), Cookie=session_cookie(alice)
    )
    assert response.status == 503 and int(response.getheader("Retry-After")) > 0
    assert "try again" in text and elapsed < 2
    assert len(list(folder.iterdir())) == 1

    first.send(body[6 * MiB :])
    assert first.getresponse().status == 403  # read whole, then the CSRF check said no
    first.close()
    deadline = time.monotonic() + 5  # removed when the server closes the request
    while list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(folder.iterdir()) == []
    release = body_limits.take_slot()
    assert release is not None
    release()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_too(
    web_server,  # noqa: F811
    tmp_path,
    alice,
    project,
    settings,
):
    """The production server (gunicorn, gthread workers): the same refusals, at once."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("gunicorn shares the test database on PostgreSQL only")
    folder = tmp_path / "gunicorn-uploads"
    folder.mkdir()
    database = connection.settings_dict
    env = app_env(
        database_url=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
        broker_url="memory://",
        media_root=tmp_path / "media",
        FILE_UPLOAD_TEMP_DIR=str(folder),
        MLSTRAT_IMPORT_MAX_UPLOAD_BYTES=str(4 * MiB),
    )
    server = web_server(env, workers=1, threads=2)
    response, text, elapsed = headers_only(
        server.url, "POST", "/login/", 400 * MiB, Cookie=CSRF_COOKIE
    )
    assert response.status == 413 and elapsed < 2
    response, text, elapsed = headers_only(
        server.url, "POST", "/api/v1/imports/", 6 * MiB, Authorization=f"Token {api_token(alice)}"
    )
    assert response.status == 413 and "at most 4 MiB" in text and elapsed < 2
    assert list(folder.iterdir()) == []
