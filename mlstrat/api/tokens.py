from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle


class TokenThrottle(AnonRateThrottle):
    scope = "anon"


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token scripts use (`Authorization: Token ...`)."""

    throttle_classes = [TokenThrottle]
