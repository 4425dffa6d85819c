"""Project-scoped permissions for API views.

Querysets are always filtered to the user's projects (outsiders get 404); these
classes add the role a write needs (403 when the role is too low).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role


def project_of(obj):
    """Walk from any project-owned object to its project."""
    for path in (
        "project",
        "dataset.project",
        "run.dataset.project",
        "review.run.dataset.project",
        "example.dataset.project",
    ):
        target = obj
        try:
            for attr in path.split("."):
                target = getattr(target, attr)
        except AttributeError:
            continue
        return target
    raise TypeError(f"{type(obj).__name__} does not belong to a project")


class RolePermission(BasePermission):
    """Reads need membership (the queryset ensures it); writes need `write_role`."""

    read_role = Role.ANNOTATOR
    write_role = Role.ANNOTATOR

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        role = self.read_role if request.method in SAFE_METHODS else self.write_role
        return has_role(user=request.user, project=project_of(obj), role=role)


class AdminWrites(RolePermission):
    write_role = Role.ADMIN


class LeadWrites(RolePermission):
    write_role = Role.LEAD
