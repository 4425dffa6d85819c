from rest_framework import viewsets

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
