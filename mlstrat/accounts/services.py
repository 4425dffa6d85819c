from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from mlstrat.names import clean_text, normalise_name

from .models import Membership, Project, Role

User = get_user_model()


class LastAdminError(ValueError):
    """A project must keep at least one admin."""


@transaction.atomic
def project_create(*, name: str, owner, description: str = "") -> Project:
    name = normalise_name(name, max_length=200)
    description = clean_text(description, field="description")
    base = slugify(name)[:70] or "project"
    slug, n = base, 1
    while Project.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    project = Project.objects.create(name=name, slug=slug, description=description)
    Membership.objects.create(project=project, user=owner, role=Role.ADMIN)
    return project


@transaction.atomic
def membership_set(*, project: Project, user, role: str) -> Membership:
    """Add a member or change their role; the last admin cannot step down."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    existing = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if existing and existing.role == Role.ADMIN and role != Role.ADMIN:
        _ensure_another_admin(project=project, leaving=user)
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def membership_remove(*, project: Project, user) -> None:
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return
    if membership.role == Role.ADMIN:
        _ensure_another_admin(project=project, leaving=user)
    membership.delete()


def _ensure_another_admin(*, project: Project, leaving) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .exclude(user=leaving)
    )
    if not others.exists():
        raise LastAdminError("A project needs at least one admin: make someone else admin first.")


def user_invite(*, username: str, email: str = "", password: str | None = None):
    """Create an account (sign-up is by invitation only). No password: unusable until set."""
    user = User(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


class InvitationInvalid(ValueError):
    """The invitation link was used already, has expired, or never existed."""


def invitation_create(*, project: Project, role: str, created_by, email: str = "", days: int = 7):
    from datetime import timedelta

    from django.utils import timezone

    from .models import Invitation

    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    return Invitation.objects.create(
        project=project,
        role=role,
        email=email,
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=days),
    )


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str):
    """Create the invitee's account and membership; the link works once."""
    from django.contrib.auth.password_validation import validate_password
    from django.utils import timezone

    from .models import Invitation

    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or invitation.accepted_at or invitation.expires_at < timezone.now():
        raise InvitationInvalid("This invitation link is not valid any more: ask for a new one.")
    user = User(username=username, email=invitation.email)
    user.full_clean(exclude=["password"])
    validate_password(password, user)
    user.set_password(password)
    user.save()
    Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    invitation.accepted_by = user
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    return user
