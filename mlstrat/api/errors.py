"""Errors the API answers with: always a 4xx with a reason a person can act on."""

import traceback

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PARSER_MODULES = ("rest_framework/parsers.py", "mlstrat/api/parsers.py")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object changed since you read it."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A background service is unavailable; try again shortly."
    default_code = "service_unavailable"


def _raised_while_parsing(exc) -> bool:
    """Whether `exc` came out of a DRF parser (reading the body), not the view's own code."""
    frames = traceback.walk_tb(exc.__traceback__)
    return any(frame.f_code.co_filename.endswith(PARSER_MODULES) for frame, _ in frames)


def exception_handler(exc, context):
    if isinstance(exc, RecursionError) and _raised_while_parsing(exc):
        # A parser we do not own (e.g. the token view's stock JSONParser) on a deeply
        # nested body: the client's input, so a 400 and not a 500.
        exc = exceptions.ParseError("The body is nested too deeply to read.")
    elif isinstance(exc, Http404):
        # One body for every 404: "No such project." here and "No Run matches the given
        # query." there would tell an outsider which ids exist in other projects.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, IntegrityError):
        return Response(
            {"detail": "This conflicts with existing data (a duplicate or a broken reference)."},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
