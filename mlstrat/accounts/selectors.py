from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from .models import ApiToken, Membership, Project


def projects_for_user(*, user) -> QuerySet[Project]:
    return (
        Project.objects.filter(memberships__user=user)
        .annotate(dataset_count=Count("datasets", distinct=True))
        .order_by("name")
    )


def project_members(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def visible_users(*, user) -> QuerySet:
    """The accounts `user` may name: people who share a project with them (site staff: all).
    Anyone else answers as if there were no such account, so a username field is no way to
    learn who has an account."""
    users = get_user_model().objects.all()
    if user.is_staff or user.is_superuser:
        return users
    shared = Membership.objects.filter(project__memberships__user=user).values("user_id")
    return users.filter(pk__in=shared)


def no_account_message(username: str) -> str:
    return f"No account you can add named “{username}”: send them an invitation link instead."


def tokens_for_user(*, user) -> QuerySet[ApiToken]:
    """A person's tokens that were not revoked (working or expired), newest first."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at", "-id"
    )


def tokens_of_member(*, project: Project, username: str) -> QuerySet[ApiToken]:
    """The unrevoked tokens of a member of `project` (nobody else's: a project admin's reach)."""
    return ApiToken.objects.filter(
        user__username=username, user__memberships__project=project, revoked_at__isnull=True
    ).order_by("-created_at", "-id")
