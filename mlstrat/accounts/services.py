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


# API tokens ----------------------------------------------------------------------------
# A token's secret is "mls_" + 43 random characters; only its SHA-256 is stored (a fast
# hash is enough for 256 random bits), so a leaked database holds no usable token.

TOKEN_PREFIX = "mls_"


class TokenRefused(ValueError):
    """A presented token is unknown, expired or revoked (the message says which)."""


def token_hash(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(*, user, name: str, days: int | None = None):
    """A new token for `user`; returns (token, secret). The secret is never stored."""
    import secrets
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from .models import ApiToken

    days = settings.MLSTRAT_TOKEN_DAYS if days is None else int(days)
    if not 1 <= days <= settings.MLSTRAT_TOKEN_MAX_DAYS:
        raise ValueError(f"A token lasts 1 to {settings.MLSTRAT_TOKEN_MAX_DAYS} days.")
    if "\x00" in (name or ""):
        raise ValueError("A token's name cannot hold a NUL character.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=(name or "").strip()[:100] or "token",
        prefix=secret[:10],
        key_hash=token_hash(secret),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, secret


@transaction.atomic
def token_rotate(*, token, by):
    """A new secret under the same name and lifetime; the old token is revoked."""
    import math

    from .models import ApiToken

    old = ApiToken.objects.select_for_update().get(pk=token.pk)
    if old.revoked_at:
        raise TokenRefused("This token was revoked: create a new one.")
    days = max(1, math.ceil((old.expires_at - old.created_at).total_seconds() / 86400))
    _revoke(ApiToken.objects.filter(pk=old.pk), by=by)
    return token_create(user=old.user, name=old.name, days=min(days, _max_days()))


def token_revoke(*, token, by) -> bool:
    from .models import ApiToken

    return _revoke(ApiToken.objects.filter(pk=token.pk), by=by) == 1


def tokens_revoke_all(*, user, by) -> int:
    """Sign out everywhere: every token of `user` stops working."""
    return _revoke(user.api_tokens.all(), by=by)


def token_authenticate(*, secret: str):
    """The token `secret` belongs to, if it may be used now (else TokenRefused with why).
    Marks it used, at most once a minute so that busy scripts do not write on every call."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import ApiToken

    token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(secret)).first()
    if token is None:
        raise TokenRefused("Invalid token.")
    now = timezone.now()
    if token.revoked_at:
        raise TokenRefused("This token was revoked: create a new one.")
    if token.expires_at <= now:
        raise TokenRefused(
            f"This token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC: create a new one "
            "(POST /api/v1/token/, or the API tokens page)."
        )
    if not token.user.is_active:
        raise TokenRefused("This account is inactive.")
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _revoke(tokens, *, by) -> int:
    from django.utils import timezone

    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=by)


def _max_days() -> int:
    from django.conf import settings

    return settings.MLSTRAT_TOKEN_MAX_DAYS
