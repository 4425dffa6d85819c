from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound

from mlstrat.accounts.models import Project

from .filters import StrictQueryParams


class ProjectScopedViewSet(StrictQueryParams, viewsets.GenericViewSet):
    """A viewset whose objects are only those of the caller's projects.

    Set `queryset` and `project_path` (the lookup from the model to its Project, e.g.
    "dataset__project"). Anything outside the caller's projects is simply not found (404),
    so ids of other teams cannot be probed.
    """

    project_path = "project"

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        return queryset.filter(**{f"{self.project_path}__memberships__user": self.request.user})


def project_path(model, depth: int = 4) -> str | None:
    """The lookup from `model` to its Project ("" for Project itself), following foreign
    keys named project, dataset, run, review, example or recipe; None if it has none."""
    if model is Project:
        return ""
    if depth == 0:
        return None
    for name in ("project", "dataset", "run", "review", "example", "recipe"):
        field = next((f for f in model._meta.fields if f.name == name), None)
        if field is None or not field.is_relation:
            continue
        rest = project_path(field.related_model, depth - 1)
        if rest is not None:
            return f"{name}__{rest}" if rest else name
    return None


class MemberPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id among the caller's projects' objects only. Another project's object and a
    missing one both answer 404 "Not found." (as in URLs), where a global queryset said
    404 for one and 400 "Invalid pk ... does not exist" for the other."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if exc.get_codes() == ["does_not_exist"]:
                raise NotFound() from None
            raise

    def get_queryset(self):
        queryset = super().get_queryset()
        path = project_path(queryset.model)
        if path is None:
            return queryset
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return queryset.none()
        members = f"{path}__memberships__user" if path else "memberships__user"
        return queryset.filter(**{members: request.user})


class ScopedModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose writable foreign keys take only the caller's projects' ids
    (pass context={"request": request} when building one by hand)."""

    serializer_related_field = MemberPrimaryKeyRelatedField
