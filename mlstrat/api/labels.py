"""API for the labels concern (see mlstrat/labels/)."""


def register(router):
    """Register this concern's viewsets on the shared /api/v1/ router."""


urlpatterns = []
