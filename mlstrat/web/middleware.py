"""A database that is gone for a moment (restart, failover, a killed connection) answers
503 with a reason and a Retry-After, not a 500 page. Django drops the broken connection
at the end of the request, and CONN_HEALTH_CHECKS replaces it at the next one, so the app
recovers without a restart."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

logger = logging.getLogger(__name__)

REASON = "The database is unavailable for a moment; try again in a few seconds."
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exception)
        # No template: rendering one could touch the database (session, user) again.
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": REASON}, status=503)
        else:
            response = HttpResponse(
                "<!doctype html><html lang=en><meta charset=utf-8>"
                "<title>Service unavailable</title>"
                f"<h1>Service unavailable</h1><p>{escape(REASON)}</p></html>",
                status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
