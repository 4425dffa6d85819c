"""API for the analytics concern (see mlstrat/analytics/)."""


def register(router):
    """Register this concern's viewsets on the shared /api/v1/ router."""


urlpatterns = []
