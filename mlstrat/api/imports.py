"""API for the imports concern (see mlstrat/imports/)."""


def register(router):
    """Register this concern's viewsets on the shared /api/v1/ router."""


urlpatterns = []
