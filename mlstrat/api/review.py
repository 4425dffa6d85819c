"""API for the review concern (see mlstrat/review/)."""


def register(router):
    """Register this concern's viewsets on the shared /api/v1/ router."""


urlpatterns = []
