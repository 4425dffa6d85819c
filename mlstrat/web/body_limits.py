"""Request bodies are refused before they are read (#13.1).

Django parses a multipart body (and writes its files to temporary files) as soon as anything
touches request.POST or request.FILES: the CSRF check does, before any login or permission
check. So this middleware, first in MIDDLEWARE, decides from the URL and the caller alone,
reading nothing of the body, how large a body may be:

- a body needs a Content-Length (411 otherwise: Django would not read it anyway);
- MLSTRAT_REQUEST_MAX_BYTES (1 MiB) on every route: forms, JSON, ticks;
- on the import routes (IMPORT_ROUTES), for a caller who may import there (an admin of the
  project; the caller is read from the session cookie or the API token header), up to
  MLSTRAT_IMPORT_MAX_UPLOAD_BYTES (one-shot uploads) or a chunk's size (chunked uploads).
  The view checks the permission again, as it always did.

A body over its cap is refused at once, by its Content-Length: 413 with the reason. A body
that will be spooled to disk (over FILE_UPLOAD_MAX_MEMORY_SIZE) needs one of
MLSTRAT_UPLOAD_SLOTS slots shared by every web process (the cache; per process while the
cache is down) and free disk beyond MLSTRAT_UPLOAD_DISK_RESERVE_BYTES; without both it is
503 with a Retry-After (the push client retries). So temporary disk holds at most
MLSTRAT_UPLOAD_SLOTS bodies at a time. The body is also counted as it streams: a server
that hands over more than was declared is cut off at the cap (413).
"""

import logging
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.html import escape

from .middleware import DATABASE_DOWN

logger = logging.getLogger(__name__)

# Route name -> what is sent there: "dump" (one-shot upload) or "chunk" (chunked upload).
IMPORT_ROUTES = {
    "project-imports": "dump",
    "import-list": "dump",
    "import-upload-detail": "chunk",
}
# Room for a multipart form's boundaries and fields around the dump itself.
MULTIPART_SLACK = 1024 * 1024
SLOT_KEY = "mlstrat:upload-slot:{}"
RETRY_AFTER_SECONDS = 15


class BodyTooLarge(RequestDataTooBig):
    """More bytes streamed in than the cap allows (a 400 to Django; this middleware then
    answers 413 in its place)."""


@dataclass
class Limit:
    cap: int
    why: str


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def body_limit(request) -> Limit:
    small = Limit(
        settings.MLSTRAT_REQUEST_MAX_BYTES,
        f"A request body here holds at most {_mib(settings.MLSTRAT_REQUEST_MAX_BYTES)}.",
    )
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return small
    kind = IMPORT_ROUTES.get(match.url_name)
    if kind is None or request.method not in ("POST", "PATCH", "PUT"):
        return small
    user = user_without_body(request)
    if user is None or not _may_import(user=user, kind=kind, kwargs=match.kwargs):
        return Limit(
            small.cap,
            f"{small.why} Larger bodies are imports, which only the project's admins send.",
        )
    if kind == "chunk":
        from mlstrat.imports.uploads import CHUNK_MAX_BYTES

        return Limit(CHUNK_MAX_BYTES, f"A chunk holds at most {_mib(CHUNK_MAX_BYTES)}.")
    cap = settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES
    return Limit(
        cap + MULTIPART_SLACK,
        f"An import upload holds at most {_mib(cap)} (MLSTRAT_IMPORT_MAX_UPLOAD_BYTES); "
        "larger dumps go in a server folder under MLSTRAT_IMPORT_ROOTS.",
    )


def user_without_body(request):
    """Who is calling, from the API token header or the session cookie; None if nobody."""
    from django.contrib.auth import get_user

    from mlstrat.accounts import services

    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
        try:
            return services.token_authenticate(secret=parts[1]).user
        except services.TokenRefused:
            return None
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    user = get_user(SimpleNamespace(session=engine.SessionStore(key)))
    return user if user.is_authenticated else None


def _may_import(*, user, kind, kwargs) -> bool:
    from mlstrat.accounts.models import Membership, Role

    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN)
    if "slug" in kwargs:
        return admin_of.filter(project__slug=kwargs["slug"]).exists()
    if kind == "chunk":
        try:
            upload_id = uuid.UUID(str(kwargs.get("pk")))
        except ValueError:
            return False
        return admin_of.filter(project__import_uploads__pk=upload_id).exists()
    # No project in the URL (POST /api/v1/imports/): an admin somewhere; the view checks
    # the project named in the body.
    return admin_of.exists()


# Slots for bodies spooled to disk ---------------------------------------------------------

_local_slots = None
_local_lock = threading.Lock()


def _local_semaphore():
    global _local_slots
    with _local_lock:
        if _local_slots is None:
            _local_slots = threading.BoundedSemaphore(settings.MLSTRAT_UPLOAD_SLOTS)
        return _local_slots


def take_slot():
    """A slot for one large body, or None when all are taken. Returns a release function."""
    for n in range(settings.MLSTRAT_UPLOAD_SLOTS):
        key = SLOT_KEY.format(n)
        if cache.add(key, 1, timeout=settings.MLSTRAT_UPLOAD_SLOT_SECONDS):
            return lambda key=key: cache.delete(key)
    if _cache_is_down():
        semaphore = _local_semaphore()
        if semaphore.acquire(blocking=False):
            return semaphore.release
    return None


def _cache_is_down() -> bool:
    import time

    return getattr(cache, "_down_until", 0.0) > time.monotonic()


def _disk_has_room(length: int) -> bool:
    folder = settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    return free - length >= settings.MLSTRAT_UPLOAD_DISK_RESERVE_BYTES


# The stream ---------------------------------------------------------------------------------


class CountingStream:
    """Reads from `stream`, and raises BodyTooLarge once more than `cap` bytes came."""

    def __init__(self, stream, cap: int):
        self.stream, self.cap, self.count, self.exceeded = stream, cap, 0, False

    def _counted(self, data):
        self.count += len(data)
        if self.count > self.cap:
            self.exceeded = True
            raise BodyTooLarge(f"The request body went past {self.cap} bytes.")
        return data

    def read(self, size=-1):
        return self._counted(self.stream.read(size))

    def readline(self, size=-1):
        return self._counted(self.stream.readline(size))

    def __iter__(self):
        return iter(self.readline, b"")

    def __getattr__(self, name):  # close() and the rest, as the wrapped stream has them
        return getattr(self.stream, name)


def refused(request, status: int, reason: str, retry_after: int | None = None):
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": reason}, status=status)
    else:
        response = HttpResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Request refused</title>"
            f"<h1>Request refused</h1><p>{escape(reason)}</p></html>",
            status=status,
        )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    # Outside CommonMiddleware: say the length, so the client reads the answer without
    # waiting for the connection to close (the server may still be taking the body in).
    response["Content-Length"] = str(len(response.content))
    return response


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not declared and not chunked:
            return self.get_response(request)
        if not declared.isdigit():
            return refused(request, 411, "Send the body with a Content-Length.")
        length = int(declared)
        if length == 0:
            return self.get_response(request)
        try:
            limit = body_limit(request)
        except (OperationalError, InterfaceError):
            # Who is calling could not be read: the database is gone for a moment.
            return refused(request, 503, DATABASE_DOWN, retry_after=RETRY_AFTER_SECONDS)
        if length > limit.cap:
            logger.warning("413 on %s %s: %d bytes declared", request.method, request.path, length)
            return refused(request, 413, f"This body is {_mib(length)}. {limit.why}")
        release = None
        if length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
            release = take_slot()
            if release is None or not _disk_has_room(length):
                if release:
                    release()
                return refused(
                    request,
                    503,
                    "The server is receiving as many large uploads as it has room for; "
                    "try again in a moment.",
                    retry_after=RETRY_AFTER_SECONDS,
                )
        # Django reads the body through request._stream (a LimitedStream over wsgi.input).
        stream = request._stream = CountingStream(request._stream, limit.cap)
        try:
            response = self.get_response(request)
        finally:
            if release:
                release()
        if stream.exceeded:
            return refused(request, 413, f"This body went past {_mib(limit.cap)}. {limit.why}")
        return response
