"""The client's address, read through the number of proxies we trust (TRUSTED_PROXY_COUNT).

Behind a TLS proxy REMOTE_ADDR is the proxy: every client shares it. Each trusted proxy
appends the address it saw to X-Forwarded-For, so the client is the entry that many places
from the right; whatever a client wrote there itself stands further left and is ignored.
With TRUSTED_PROXY_COUNT = 0 (no proxy) the header is never read.

The login lockout (django-axes, AXES_CLIENT_IP_CALLABLE) and the API throttles (DRF's
NUM_PROXIES, set from the same setting, and the token endpoint's throttle) use this.
"""

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted <= 0:
        return remote
    hops = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    if not hops:
        return remote
    return hops[-min(trusted, len(hops))]
