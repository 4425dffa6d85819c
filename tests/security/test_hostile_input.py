"""No input answers 500: hostile JSON bodies, control characters in URLs, queries and forms,
ids beyond 64 bits and names that would break a download header all get a 4xx with a
reason, or work. Property tests post arbitrary text and numbers to every page."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlstrat.accounts.models import Project
from mlstrat.datasets.models import Dataset, ModelRun
from mlstrat.downloads import content_disposition
from mlstrat.mismatch.models import SynthesisRecipe
from mlstrat.review.models import ErrorCategory, Review

from .routes import all_routes, url_for
from .world import build_world

HUGE = 2**70
DEEP = "[" * 3000 + "]" * 3000


@pytest.fixture
def ours(project, alice, bob, carol):
    return build_world(project=project, user=carol, marker="OURS")


# ---------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[]", "must be a JSON object"),
        ('"x"', "must be a JSON object"),
        ("1", "must be a JSON object"),
        ("null", "must be a JSON object"),
        (DEEP, "nested deeper"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper"),
        (json.dumps({"name": "a\x00b"}), "control character"),
        (json.dumps({"a\x00": 1}), "control character"),
        (json.dumps({"name": "x", "seed": HUGE}), "outside 64 bits"),
        (json.dumps({"name": "x", "seed": -HUGE}), "outside 64 bits"),
        ('{"a": NaN}', "not a number JSON allows"),
        ('{"a": 1e999}', "too large"),
        ("{bad", "JSON parse error"),
    ],
)
def test_hostile_json_bodies_get_400_with_a_reason(api, ours, alice, body, reason):
    api.force_authenticate(alice)
    category = ours.of(ErrorCategory)
    for method, url in [
        ("post", "/api/v1/projects/"),
        ("patch", f"/api/v1/categories/{category.pk}/"),
        ("post", "/api/v1/reviews/"),
        ("put", f"/api/v1/runs/{ours.of(ModelRun).pk}/"),
    ]:
        response = getattr(api, method)(url, body, content_type="application/json")
        assert response.status_code == 400, (method, url, response.status_code)
        assert reason in response.json()["detail"]


def test_the_token_view_reads_a_deep_body_as_a_bad_request(api, db):
    response = api.post("/api/v1/token/", DEEP, content_type="application/json")
    assert response.status_code == 400


def test_an_ordinary_body_still_works(api, alice, db):
    api.force_authenticate(alice)
    response = api.post("/api/v1/projects/", {"name": "Tab\there"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Tab here"


# ---------------------------------------------------------------- URLs, queries and forms


def test_nul_in_a_page_form_is_400_and_creates_nothing(client, alice):
    client.force_login(alice)
    response = client.post("/", {"name": "a\x00b"})
    assert response.status_code == 400
    assert b"control character" in response.content
    assert not Project.objects.filter(name__startswith="a").exists()


def test_nul_in_a_query_is_400(client, api, ours, alice):
    client.force_login(alice)
    assert client.get(f"/p/{ours.project.slug}/", {"q": "\x00"}).status_code == 400
    api.force_authenticate(alice)
    review = ours.of(Review)
    response = api.get(f"/api/v1/reviews/{review.pk}/rows/", {"label": "a\x00b"})
    assert response.status_code == 400
    assert "control character" in response.json()["detail"]


def test_nul_in_a_username_in_the_path_is_400(client, ours, alice):
    client.force_login(alice)
    response = client.post(f"/p/{ours.project.slug}/members/a%00b/remove/")
    assert response.status_code == 400


def test_ids_beyond_64_bits_are_not_found(client, api, ours, alice):
    client.force_login(alice)
    assert client.get(f"/p/{ours.project.slug}/runs/{HUGE}/dashboard/").status_code == 404
    api.force_authenticate(alice)
    assert api.get(f"/api/v1/runs/{HUGE}/").status_code == 404


def test_a_recipe_with_fields_of_the_wrong_type_gets_400(api, ours, alice):
    api.force_authenticate(alice)
    recipe = ours.of(SynthesisRecipe)
    for fields in [{"filters": "x"}, {"filters": [1]}, {"name": 5}, {"name": ["a"]}]:
        response = api.patch(f"/api/v1/synthesis-recipes/{recipe.pk}/", fields, format="json")
        assert response.status_code == 400, (fields, response.status_code)


@pytest.mark.parametrize("digit_like", ["²", "¹0", "١", "99999999999999999999999"])
def test_digit_like_ids_in_page_queries_are_not_found_not_500(client, ours, alice, digit_like):
    """str.isdigit() says yes to "²", int() says no: ids go through web.params.id_from."""
    client.force_login(alice)
    run, dataset = ours.of(ModelRun), ours.of(Dataset)
    slug = ours.project.slug
    for url, query in [
        (f"/p/{slug}/runs/{run.pk}/dashboard/", {"review": digit_like}),
        (f"/p/{slug}/runs/{run.pk}/sheet/", {"cols": f"1,{digit_like}"}),
        (f"/p/{slug}/datasets/{dataset.pk}/mismatch/", {"run": digit_like}),
    ]:
        assert client.get(url, query).status_code == 200, (url, query)
    response = client.post(
        f"/p/{slug}/runs/{run.pk}/reviews/reference/", {"review": digit_like, "next": "/"}
    )
    assert response.status_code < 500
    response = client.post(f"/p/{slug}/labels/samples/draw/", {"run": run.pk, "seed": "²"})
    assert response.status_code == 302


# ---------------------------------------------------------------- download names


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("plain-labels.csv", 'filename="plain-labels.csv"'),
        ("evil\r\nSet-Cookie: a=b-labels.csv", 'filename="evilSet-Cookie: a=b-labels.csv"'),
        ('quo"te/../x.csv', 'filename="quo_te-..-x.csv"'),
        ("café.csv", "filename=\"cafe.csv\"; filename*=UTF-8''caf%C3%A9.csv"),
    ],
)
def test_download_names_make_one_safe_header(name, fallback):
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header
    assert header == f"attachment; {fallback}" or header.startswith(f"attachment; {fallback}")


def test_a_dataset_named_with_a_line_break_downloads(client, ours, alice):
    dataset = ours.of(Dataset)
    Dataset.objects.filter(pk=dataset.pk).update(name="two\r\nlines")
    client.force_login(alice)
    response = client.get(f"/p/{ours.project.slug}/labels/export/{dataset.pk}/labels.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="twolines-labels.csv"'


# ---------------------------------------------------------------- every page, any text

PAGE_ROUTES = [r for r in all_routes() if not r.is_api and r.name not in ("logout",)]
FIELDS = [
    *("name username role email password password2 dataset new_dataset run review next").split(),
    *("team_rule human_level_error size seed per_source blind t_choice transforms_json").split(),
    *("count overlay_set decision expected_version note label reason origin back item").split(),
    *("outcome split sample_size all_errors assignment annotators prediction source").split(),
    *("confidence_min confidence_max metadata category untagged assignee sort after view").split(),
    *("open cols rule page status method sample char_blur_min").split(),
]
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(
        ["", "0", "-1", "1e309", "nan", "[]", "{}", "99999999999999999999", "²", "١", "1,²"]
    ),
)
FORMS = st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=6)
PROPERTY_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=lambda r: r.name)
def test_no_page_answers_500_to_any_form(route, ours, alice, carol):
    admin, annotator, anonymous = Client(), Client(), Client()
    admin.force_login(alice)
    annotator.force_login(carol)
    url = url_for(route, ours, username="carol")

    @PROPERTY_SETTINGS
    @given(form=FORMS, query=FORMS)
    def run(form, query):
        for client in (admin, annotator, anonymous):
            assert client.get(url, query).status_code < 500
            assert client.post(url, form).status_code < 500

    run()
