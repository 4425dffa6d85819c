"""Every URL of the app, collected from the URL conf so that a new route cannot be forgotten,
with its parameters filled from a `World` of objects."""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from mlstrat.accounts.models import ApiToken, Invitation, Project
from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction
from mlstrat.imports.models import ImportJob
from mlstrat.labels.models import CorrectSample, LabelChange, LabelCorrection
from mlstrat.mismatch.models import CharacteristicReview, SynthesisJob, SynthesisRecipe
from mlstrat.review.models import (
    Comment,
    ErrorCategory,
    Review,
    ReviewItem,
    SavedView,
    Tag,
    TagEvent,
)

# Routes anyone may open, signed in or not.
PUBLIC = {"login", "logout", "healthz", "invitation-accept", "api-token"}
SKIPPED_PREFIXES = ("admin/", "static/", "media/", "__debug__")

# Parameter name prefixes -> the model whose id goes there.
PARAM_MODELS = {
    "run": ModelRun,
    "review": Review,
    "dataset": Dataset,
    "example": Example,
    "job": ImportJob,
    "import": ImportJob,
    "correction": LabelCorrection,
    "change": LabelChange,
    "category": ErrorCategory,
    "comment": Comment,
    "tag": Tag,
    "prediction": Prediction,
    "item": ReviewItem,
    "snapshot": AnalysisSnapshot,
    "event": TagEvent,
    "invitation": Invitation,
    "project": Project,
    "char_review": CharacteristicReview,
    "recipe": SynthesisRecipe,
    "synthesis_job": SynthesisJob,
    "view": SavedView,
    "token": ApiToken,
}
# For a bare `pk` in a page's URL: words of the route name, checked in this order.
NAME_WORDS = [
    ("analysis-settings", Dataset),
    ("runs-compared", Dataset),
    ("correct-sample", CorrectSample),
    ("example", Example),
    ("import", ImportJob),
    ("job", ImportJob),
    ("correction", LabelCorrection),
    ("change", LabelChange),
    ("category", ErrorCategory),
    ("comment", Comment),
    ("review", Review),
    ("dataset", Dataset),
    ("run", ModelRun),
    ("label", LabelCorrection),
    ("token", ApiToken),
]


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    params: tuple
    callback: object

    @property
    def is_api(self):
        return self.pattern.startswith("api/")

    @property
    def is_public(self):
        return self.name in PUBLIC


def _params(pattern) -> tuple:
    if hasattr(pattern.pattern, "converters") and pattern.pattern.converters:
        return tuple(pattern.pattern.converters)
    regex = getattr(pattern.pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and p.name:
            yield Route(
                name=namespace + p.name,
                pattern=(prefix + str(p.pattern)).replace("^", "").replace("$", ""),
                params=_params(p),
                callback=p.callback,
            )


def all_routes() -> list[Route]:
    seen, routes = set(), []
    for route in _walk(get_resolver().url_patterns):
        if route.pattern.startswith(SKIPPED_PREFIXES) or "format" in route.params:
            continue
        if route.name == "api-docs" and "swagger-ui.js" in route.pattern:
            continue
        key = (route.name, route.params)
        if key in seen:
            continue
        seen.add(key)
        routes.append(route)
    return routes


def model_for(route: Route, param: str):
    if param in ("pk", "id"):
        viewset = getattr(route.callback, "cls", None)
        queryset = getattr(viewset, "queryset", None)
        if queryset is not None:
            return queryset.model
        for word, model in NAME_WORDS:
            if word in route.name:
                return model
        raise LookupError(f"route {route.name}: cannot tell which model `{param}` is")
    stem = param.removesuffix("_pk").removesuffix("_id")
    if stem in PARAM_MODELS:
        return PARAM_MODELS[stem]
    raise LookupError(f"route {route.name}: unknown parameter `{param}`; map it in routes.py")


def url_for(route: Route, world, username: str) -> str:
    kwargs = {}
    for param in route.params:
        if param == "slug":
            kwargs[param] = world.project.slug
        elif param == "token":
            kwargs[param] = world.of(Invitation).token
        elif param == "username":
            kwargs[param] = username
        elif param == "kind":
            kwargs[param] = "sheet" if "export" in route.name else "image"
        elif param == "fmt":
            kwargs[param] = "csv"
        else:
            kwargs[param] = world.of(model_for(route, param)).pk
    return reverse(route.name, kwargs=kwargs)
