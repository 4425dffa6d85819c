"""A backing service that is gone for a moment answers 503 with a reason and a
Retry-After, not a 500 page:

- the database (restart, failover, a killed connection): Django drops the broken
  connection at the end of the request and CONN_HEALTH_CHECKS replaces it at the next
  one, so the app recovers without a restart;
- the task queue (Redis) when a request queues work (Celery's publish gives up within
  seconds: CELERY_TASK_PUBLISH_RETRY_POLICY). Ticks and pages never need it.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from kombu.exceptions import OperationalError as BrokerError

from mlstrat.names import has_control_characters

logger = logging.getLogger(__name__)

DATABASE_DOWN = "The database is unavailable for a moment; try again in a few seconds."
QUEUE_DOWN = "The task queue is unavailable, so this job was not started; try again shortly."
RETRY_AFTER_SECONDS = 5


def _reason(exception) -> str | None:
    if isinstance(exception, (OperationalError, InterfaceError)):
        return DATABASE_DOWN
    if isinstance(exception, BrokerError):
        return QUEUE_DOWN
    return None


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        reason = _reason(exception)
        if reason is None:
            return None
        logger.warning("503 on %s %s: %r", request.method, request.path, exception)
        # No template: rendering one could touch the database (session, user) again.
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": reason}, status=503)
        else:
            response = HttpResponse(
                "<!doctype html><html lang=en><meta charset=utf-8>"
                "<title>Service unavailable</title>"
                f"<h1>Service unavailable</h1><p>{escape(reason)}</p></html>",
                status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


BAD_CHARACTERS = (
    "A control character (such as NUL) is not allowed in a URL, query or form field; "
    "remove it and try again."
)


def _has_control_characters(request) -> bool:
    if has_control_characters(request.path):
        return True
    fields = [request.GET]
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        fields.append(request.POST)
    return any(
        has_control_characters(key) or any(has_control_characters(v) for v in values)
        for query in fields
        for key, values in query.lists()
    )


class ControlCharactersMiddleware:
    """A NUL or other control character in the path, the query or a form field answers 400
    with a reason: PostgreSQL cannot store or even compare a NUL, so left alone it would be a
    500 in whichever view first used the value, and no field of the app takes control
    characters (tab, CR and LF stay allowed for text areas)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_control_characters(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": BAD_CHARACTERS}, status=400)
            return HttpResponse(
                "<!doctype html><html lang=en><meta charset=utf-8><title>Bad request</title>"
                f"<h1>Bad request</h1><p>{escape(BAD_CHARACTERS)}</p></html>",
                status=400,
            )
        return self.get_response(request)
