"""The signed-in person's own API tokens: make one (its secret shown once), rotate, revoke,
and "sign out everywhere" (every token revoked, this session ended)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlstrat.accounts import selectors, services


def _page(request, *, new_token=None, secret=None, error=None):
    tokens = list(selectors.tokens_for_user(user=request.user))
    now = timezone.now()
    for token in tokens:
        token.status = token.status_at(now)
    context = {
        "tokens": tokens,
        "new_token": new_token,
        "secret": secret,
        "error": error,
        "default_days": settings.MLSTRAT_TOKEN_DAYS,
        "max_days": settings.MLSTRAT_TOKEN_MAX_DAYS,
    }
    response = render(request, "web/tokens.html", context, status=400 if error else 200)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@login_required
def tokens(request):
    if request.method != "POST":
        return _page(request)
    try:
        days = int(request.POST.get("days") or settings.MLSTRAT_TOKEN_DAYS)
    except ValueError:
        days = 0
    try:
        token, secret = services.token_create(
            user=request.user, name=request.POST.get("name", "")[:100], days=days
        )
    except ValueError as exc:
        return _page(request, error=str(exc))
    return _page(request, new_token=token, secret=secret)


@login_required
@require_POST
def token_rotate(request, pk):
    token = get_object_or_404(selectors.tokens_for_user(user=request.user), pk=pk)
    new_token, secret = services.token_rotate(token=token, by=request.user)
    return _page(request, new_token=new_token, secret=secret)


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(selectors.tokens_for_user(user=request.user), pk=pk)
    services.token_revoke(token=token, by=request.user)
    messages.success(request, f"The token “{token.name}” was revoked: it no longer works.")
    return redirect("account-tokens")


@login_required
@require_POST
def sign_out_everywhere(request):
    user = request.user
    revoked = services.tokens_revoke_all(user=user, by=user)
    logout(request)
    messages.success(
        request, f"Signed out everywhere: {revoked} API token{'s' if revoked != 1 else ''} revoked."
    )
    return redirect("login")
