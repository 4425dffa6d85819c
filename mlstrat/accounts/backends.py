from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.helpers import toggleable

from .login_throttle import username_wait_seconds


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes' lock per (username, address), then the per-username backoff
    (mlstrat/accounts/login_throttle.py). Authenticates nobody itself."""

    @toggleable
    def authenticate(self, request, username=None, password=None, **kwargs):
        super().authenticate(request, username=username, password=password, **kwargs)
        wait = username_wait_seconds(username=username)
        if wait:
            # Refused, not failed: axes does not count it and answers with our lockout.
            request.axes_locked_out = True
            request.mlstrat_login_wait = wait
            raise AxesBackendPermissionDenied("Too many recent failures for this username.")
