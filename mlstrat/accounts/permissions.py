"""Who may see and do what in a project.

A user sees only the projects they belong to: anything of another project is a 404,
so ids cannot be probed. Inside a project, roles rank annotator < lead < admin.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Project, Role


def membership_for(*, user, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    cache = getattr(user, "_mlstrat_memberships", None)
    if cache is None:
        cache = user._mlstrat_memberships = {}
    if project.pk not in cache:
        cache[project.pk] = Membership.objects.filter(project=project, user=user).first()
    return cache[project.pk]


def require_member(*, user, project: Project, role: str = Role.ANNOTATOR) -> Membership:
    """The user's membership, or 404 for outsiders and 403 for a role too low."""
    membership = membership_for(user=user, project=project)
    if membership is None:
        raise Http404("No such project.")
    if not membership.has_role(role):
        raise PermissionDenied(f"This needs the {role} role in {project.name}.")
    return membership


def has_role(*, user, project: Project, role: str) -> bool:
    membership = membership_for(user=user, project=project)
    return membership is not None and membership.has_role(role)
