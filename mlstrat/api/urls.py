from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import APIRootView, DefaultRouter

from . import accounts, analytics, datasets, imports, labels, mismatch, review, tokens
from .filters import StrictQueryParams


class StrictAPIRootView(StrictQueryParams, APIRootView):
    """The browsable index of the API, as strict about query keys as the rest."""


class Router(DefaultRouter):
    APIRootView = StrictAPIRootView


router = Router()
# "api-project": the web pages own the "project-*" names.
router.register("projects", accounts.ProjectViewSet, basename="api-project")
CONCERNS = [datasets, imports, review, analytics, labels, mismatch, tokens]
for concern in CONCERNS:
    concern.register(router)

urlpatterns = [
    path("token/", tokens.TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    *[p for concern in CONCERNS for p in concern.urlpatterns],
    path("", include(router.urls)),
]
