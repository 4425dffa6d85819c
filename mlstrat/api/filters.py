"""One strict filter backend for every API list: query keys come from an allow-list.

django-filter alone ignores keys it does not know, and a hand-written filter that passes
keys to the ORM lets a caller walk relations (`updated_by__password__startswith=a`, the
Label Studio CVE-2023-47117 hole). Here any key that is not a declared filter, a
pagination or format parameter, a valid `ordering`, or one of the view's documented extra
parameters (`query_params_allowed`) answers 400 naming the key, before any query runs.
"""

import functools
from types import SimpleNamespace

from django import forms
from django.db import models
from django_filters import NumberFilter
from django_filters.rest_framework import DjangoFilterBackend, filterset
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings
from rest_framework.views import APIView

PAGINATION_PARAMS = ("page", "page_size", "cursor")
ORDERING_PARAM = "ordering"


def allowed_query_params(*, view, filter_names=()) -> set[str]:
    """The query keys `view` accepts: filters, paging, format and its documented extras."""
    allowed = {*filter_names, *PAGINATION_PARAMS, ORDERING_PARAM}
    if api_settings.URL_FORMAT_OVERRIDE:
        allowed.add(api_settings.URL_FORMAT_OVERRIDE)
    paginator = getattr(view, "paginator", None)
    for attr in ("page_query_param", "page_size_query_param", "cursor_query_param"):
        name = getattr(paginator, attr, None)
        if name:
            allowed.add(name)
    allowed.update(getattr(view, "query_params_allowed", ()))
    return allowed


def check_ordering(*, view, params) -> None:
    """`ordering` names only the view's `ordering_fields` (optionally with a leading -)."""
    if ORDERING_PARAM not in params:
        return
    fields = set(getattr(view, "ordering_fields", None) or ())
    for value in params.getlist(ORDERING_PARAM):
        for term in filter(None, (part.strip() for part in value.split(","))):
            if term.lstrip("-") not in fields:
                allowed = ", ".join(sorted(fields)) or "none here"
                raise ValidationError(
                    {ORDERING_PARAM: [f"Cannot order by {term!r}; allowed: {allowed}."]}
                )


def check_query_params(*, view, params, filter_names=()) -> None:
    """Raise a 400 naming every query key `view` does not accept."""
    allowed = allowed_query_params(view=view, filter_names=filter_names)
    unknown = sorted(key for key in params if key not in allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise ValidationError(
            {key: [f"Unknown query parameter; this endpoint accepts: {listed}."] for key in unknown}
        )
    check_ordering(view=view, params=params)


class IdFilter(NumberFilter):
    """A whole-number id (NumberFilter would take 1.5 and find id 1)."""

    field_class = forms.IntegerField


class IdFilterSet(filterset.FilterSet):
    """Foreign keys filter by plain id: django-filter's default (a choice among every row of
    the related table) answers an id of another project's object with an empty list and a
    missing id with 400 "Select a valid choice", which tells the two apart."""

    FILTER_DEFAULTS = {
        **filterset.FilterSet.FILTER_DEFAULTS,
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
    }


class StrictFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend that refuses unknown or relation-walking query keys with 400."""

    filterset_base = IdFilterSet

    def filter_names(self, view, queryset):
        filterset_class = self.get_filterset_class(view, queryset)
        return filterset_class.base_filters if filterset_class is not None else ()

    def filter_queryset(self, request, queryset, view):
        names = self.filter_names(view, queryset)
        check_query_params(view=view, params=request.query_params, filter_names=names)
        return super().filter_queryset(request, queryset, view)


class StrictQueryParams:
    """Every API view checks its query keys before it runs, detail and action views
    included (the backend alone sees only lists and `get_object`). Viewsets also accept
    their declared filters; anything else must be listed in `query_params_allowed`."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_query_params(
            view=self, params=request.query_params, filter_names=self._declared_filters()
        )

    def _declared_filters(self):
        for backend in getattr(self, "filter_backends", ()):
            if issubclass(backend, StrictFilterBackend):
                queryset = getattr(self, "queryset", None)
                if queryset is None:
                    queryset = self.get_queryset()
                return backend().filter_names(self, queryset)
        return ()


class StrictAPIView(StrictQueryParams, APIView):
    """APIView for mlstrat: unknown query keys answer 400 (see StrictQueryParams)."""

    query_params_allowed = ()


def allow_query_params(*names):
    """For function API views that list things: refuse any query key but `names` (and
    paging or format) with 400, as the backend does for viewsets. Put it under @api_view."""
    view = SimpleNamespace(query_params_allowed=names, ordering_fields=())

    def decorator(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            check_query_params(view=view, params=request.query_params)
            return func(request, *args, **kwargs)

        return wrapper

    return decorator
