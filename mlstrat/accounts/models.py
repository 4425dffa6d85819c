from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from mlstrat.names import TEXT_MAX_LENGTH


class User(AbstractUser):
    """A person using mlstrat. Accounts are created by invitation, never by open sign-up."""


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    LEAD = "lead", "Lead"
    ANNOTATOR = "annotator", "Annotator"


# What each role may do; higher roles include the lower ones.
ROLE_RANK = {Role.ANNOTATOR: 1, Role.LEAD: 2, Role.ADMIN: 3}


class Project(models.Model):
    """A team's workspace: its datasets, runs, reviews and members."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), TEXT_MAX_LENGTH),
                name="project_description_capped",
            ),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]
        ordering = ["project", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _invitation_token():
    import secrets

    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    """Sign-up is by invitation only: an admin invites, the invitee picks a username and
    password through a one-time link, and joins the project with the given role."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"invitation to {self.project} as {self.role}"


class ApiToken(models.Model):
    """A secret a script signs in with (`Authorization: Token <secret>`). Only its SHA-256 is
    kept: the secret is shown once, at creation. It expires, and can be rotated (a new
    secret under the same name, the old one revoked) or revoked by its owner, by an admin of
    a project the owner belongs to, or all at once ("sign out everywhere")."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The secret's first characters, to tell tokens apart in lists (not enough to use one).
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_active")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…) of {self.user}"

    def status_at(self, now) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"
