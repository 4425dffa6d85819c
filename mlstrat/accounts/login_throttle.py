"""Failed logins: who is slowed down, and for how long.

django-axes locks a (username, address) pair after AXES_FAILURE_LIMIT failures in an hour:
one client guessing one account. Nothing is locked per address alone (behind a proxy or a
NAT many people share one) and nothing locks an account for an hour: failures against one
username from any address only slow further attempts on it down, by a delay that doubles
with each failure past LOGIN_BACKOFF_AFTER and never exceeds LOGIN_BACKOFF_MAX_SECONDS. So a
stranger guessing someone's password from many addresses gets a few guesses a minute at
most, and the owner waits a minute at most. Refused attempts are not counted (axes is told
the request was refused, AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False).
"""

import math

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.html import escape

PAIR_LOCKED = (
    "Too many failed logins for this account from your address: try again in an hour, "
    "or ask your admin."
)


def username_wait_seconds(*, username: str | None) -> int:
    """Seconds before `username` may be tried again (0: now)."""
    if not username:
        return 0
    now = timezone.now()
    recent = AccessAttempt.objects.filter(
        username=username, attempt_time__gte=now - get_cool_off()
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    failures = recent["failures"] or 0
    if failures < settings.LOGIN_BACKOFF_AFTER:
        return 0
    delay = min(
        2 ** min(failures - settings.LOGIN_BACKOFF_AFTER, 30), settings.LOGIN_BACKOFF_MAX_SECONDS
    )
    remaining = delay - (now - recent["last"]).total_seconds()
    return max(0, math.ceil(remaining))


def wait_message(seconds: int) -> str:
    return (
        f"Too many failed logins for this account: try again in {seconds} "
        f"second{'s' if seconds != 1 else ''}."
    )


def lockout_response(request, original_response=None, credentials=None):
    """axes' answer to a refused login: 429 with the reason and a Retry-After."""
    wait = getattr(request, "mlstrat_login_wait", 0)
    reason = wait_message(wait) if wait else PAIR_LOCKED
    retry_after = wait or int(get_cool_off(request).total_seconds())
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": reason}, status=429)
    else:
        response = HttpResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Too many failed logins</title>"
            f'<h1>Too many failed logins</h1><p role="alert">{escape(reason)}</p>'
            '<p><a href="/login/">Back to the login page</a></p></html>',
            status=429,
        )
    response["Retry-After"] = str(retry_after)
    return response
