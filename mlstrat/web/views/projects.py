from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlstrat.accounts import selectors, services
from mlstrat.accounts.models import Project, Role
from mlstrat.accounts.permissions import require_member
from mlstrat.analytics.selectors import runs_overview
from mlstrat.datasets.models import ModelRun, RunStatus
from mlstrat.datasets.selectors import datasets_for_project, runs_for_dataset

User = get_user_model()


def project_for(request, slug, role=Role.ANNOTATOR):
    """The project named in the URL, if the user may act in it with `role`."""
    project = get_object_or_404(Project, slug=slug)
    membership = require_member(user=request.user, project=project, role=role)
    return project, membership


def run_for(request, slug, run_pk, role=Role.ANNOTATOR):
    """The project named in the URL and one of its visible runs (404 otherwise)."""
    project, membership = project_for(request, slug, role=role)
    run = get_object_or_404(
        ModelRun.objects.select_related("dataset"),
        pk=run_pk,
        dataset__project=project,
        status=RunStatus.READY,
    )
    return project, membership, run


@login_required
def project_list(request):
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            messages.error(request, "A project needs a name.")
        else:
            try:
                project = services.project_create(name=name, owner=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                return redirect("project-home", slug=project.slug)
    projects = selectors.projects_for_user(user=request.user)
    return render(request, "web/project_list.html", {"projects": projects})


@login_required
def project_home(request, slug):
    project, membership = project_for(request, slug)
    datasets = [
        (dataset, list(runs_for_dataset(dataset=dataset)))
        for dataset in datasets_for_project(project=project)
    ]
    overview = runs_overview(runs=[run for _, runs in datasets for run in runs])
    for _, runs in datasets:
        for run in runs:
            run.overview = overview.get(run.pk)
    return render(
        request,
        "web/project_home.html",
        {"project": project, "membership": membership, "datasets": datasets},
    )


@login_required
def members(request, slug):
    project, membership = project_for(request, slug)
    if request.method == "POST":
        require_member(user=request.user, project=project, role=Role.ADMIN)
        username = request.POST.get("username", "").strip()
        role = request.POST.get("role", Role.ANNOTATOR)
        user = selectors.visible_users(user=request.user).filter(username=username).first()
        if user is None:
            messages.error(request, selectors.no_account_message(username))
        elif role not in Role.values:
            messages.error(request, "Pick a role: admin, lead or annotator.")
        else:
            try:
                services.membership_set(project=project, user=user, role=role)
                messages.success(request, f"{user.username} is now {role}.")
            except services.LastAdminError as exc:
                messages.error(request, str(exc))
        return redirect("project-members", slug=slug)
    invitations = (
        project.invitations.filter(accepted_at__isnull=True)
        if membership.has_role(Role.ADMIN)
        else []
    )
    members = selectors.project_members(project=project)
    if membership.has_role(Role.ADMIN):
        members = members.annotate(
            token_count=Count(
                "user__api_tokens",
                filter=Q(
                    user__api_tokens__revoked_at__isnull=True,
                    user__api_tokens__expires_at__gt=timezone.now(),
                ),
            )
        )
    return render(
        request,
        "web/members.html",
        {
            "project": project,
            "membership": membership,
            "members": members,
            "roles": Role.choices,
            "invitations": invitations,
        },
    )


@login_required
@require_POST
def invitation_create(request, slug):
    project, _ = project_for(request, slug, role=Role.ADMIN)
    role = request.POST.get("role", Role.ANNOTATOR)
    if role not in Role.values:
        messages.error(request, "Pick a role: admin, lead or annotator.")
        return redirect("project-members", slug=slug)
    invitation = services.invitation_create(
        project=project,
        role=role,
        created_by=request.user,
        email=request.POST.get("email", "").strip()[:254],
    )
    link = request.build_absolute_uri(reverse("invitation-accept", args=[invitation.token]))
    messages.success(request, f"Invitation link (valid 7 days, works once): {link}")
    return redirect("project-members", slug=slug)


def invitation_accept(request, token):
    error = None
    if request.method == "POST":
        if request.POST.get("password") != request.POST.get("password2"):
            error = "The two passwords differ."
        else:
            try:
                user = services.invitation_accept(
                    token=token,
                    username=request.POST.get("username", "").strip(),
                    password=request.POST.get("password", ""),
                )
            except services.InvitationInvalid as exc:
                error = str(exc)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("project-list")
    return render(
        request, "registration/invitation.html", {"error": error}, status=400 if error else 200
    )


@login_required
@require_POST
def member_remove(request, slug, username):
    project, _ = project_for(request, slug, role=Role.ADMIN)
    user = get_object_or_404(User, username=username, memberships__project=project)
    try:
        services.membership_remove(project=project, user=user)
        messages.success(request, f"{username} was removed from {project.name}.")
    except services.LastAdminError as exc:
        messages.error(request, str(exc))
    return redirect("project-members", slug=slug)


@login_required
@require_POST
def member_tokens_revoke(request, slug, username):
    """An admin revokes every API token of a member of their project."""
    project, _ = project_for(request, slug, role=Role.ADMIN)
    user = get_object_or_404(User, username=username, memberships__project=project)
    revoked = services.tokens_revoke_all(user=user, by=request.user)
    messages.success(
        request, f"{revoked} API token{'s' if revoked != 1 else ''} of {username} revoked."
    )
    return redirect("project-members", slug=slug)
