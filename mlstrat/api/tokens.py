from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle

from mlstrat.web.addresses import client_address


class TokenThrottle(AnonRateThrottle):
    """Password guesses on the token endpoint, counted per client address (read through
    TRUSTED_PROXY_COUNT proxies: a client's own X-Forwarded-For changes nothing)."""

    scope = "anon"

    def get_ident(self, request):
        return client_address(request)


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token scripts use (`Authorization: Token ...`)."""

    throttle_classes = [TokenThrottle]
