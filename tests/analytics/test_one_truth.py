"""One review, one truth: the sheet's footer, the review API, the dashboard (its figures
API and page), runs compared and the summary export show the same k of n, from the same
reviewed set, under the same named rule, including errors that fit no category."""

import csv
import io
import random

import pytest
from django.urls import reverse

from mlstrat.analytics.services import snapshot_compute, team_rule_set
from mlstrat.review.models import ReviewMark, Tag

from .builders import category, make_run, mark, review_errors, tick


def surfaces(client, api, run, review):
    """{surface: {category name: (k, n)}} and the reviewed / sampled each one states."""
    found = {}
    project = run.dataset.project.slug
    page = client.get(reverse("review-sheet", args=[project, run.pk, review.pk]))
    footer = _json_script(page.content.decode(), "sheet-config")["footer"]
    found["sheet footer"] = _from_rows(footer["categories"], footer["other"], footer)
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/").json()
    found["review API"] = _from_rows(figures["categories"], figures["other"], figures)
    snapshot_compute(run=run)
    dash = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    shown = next(r for r in dash["reviews"] if r["id"] == review.pk)
    found["dashboard"] = _from_rows(
        shown["categories"], shown["other"], {"reviewed": shown["reviewed"], **shown}
    )
    html = client.get(reverse("run-dashboard", args=[project, run.pk])).content.decode()
    assert f"n = {shown['reviewed']} reviewed of {shown['items']} sampled" in html
    compared = api.get(f"/api/v1/analytics/datasets/{run.dataset_id}/runs/").json()
    entry = next(r for r in compared["runs"] if r["run"]["id"] == run.pk)
    assert entry["reference"]["id"] == review.pk
    assert entry["reference"]["reviewed"] == shown["reviewed"]
    found["runs compared"] = {
        name: share for name, share in entry["shares"].items() if share is not None
    }
    rows = list(
        csv.reader(
            io.StringIO(_body(api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.csv")))
        )
    )
    found["export"] = {
        r[1].split(": ", 1)[1]: (int(r[6]), int(r[7]))
        for r in rows
        if r[0] == "category share" and r[1].startswith(f"{review.name} (reference): ")
    }
    return found


def _from_rows(categories, other, head):
    rows = {c["name"]: (c["k"], c["n"]) for c in categories}
    rows["other (no category)"] = (other["k"], other["n"])
    rows["_reviewed"] = (head["reviewed"], head.get("sampled", head.get("items")))
    return rows


def _json_script(html, element_id):
    import json
    import re

    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    return json.loads(match.group(1))


def _body(response):
    return b"".join(response.streaming_content).decode()


def assert_one_truth(found, expected):
    """Every surface shows `expected` ({name: (k, n)}); runs compared shows k / n."""
    for surface in ("sheet footer", "review API", "dashboard", "export"):
        shown = {k: v for k, v in found[surface].items() if k != "_reviewed"}
        assert {k: v for k, v in shown.items() if v[0] or k in expected} == expected, surface
    for name, (k, n) in expected.items():
        assert found["runs compared"].get(name, 0) == pytest.approx(k / n), name


@pytest.fixture
def world(project, bob):
    """30 dev errors of 100 (E = 30%); a review of 20 of them."""
    run = make_run(project, [("dev", "web", "cat", "dog", 30), ("dev", "web", "cat", "cat", 70)])
    review = review_errors(run, limit=20)
    return run, review


def test_the_worked_review_reads_the_same_everywhere(world, as_user, api, bob):
    run, review = world
    dog, blurry = category(run.dataset, "Dog"), category(run.dataset, "Blurry")
    tick(run, review, dog, [bob], first=0, n=5)
    tick(run, review, blurry, [bob], first=3, n=8)  # items 3..10, two of them dogs too
    mark(review, [bob], first=11, n=4)  # looked at, nothing applies
    api.force_authenticate(bob)
    found = surfaces(as_user(bob), api, run, review)
    # 15 reviewed of 20 sampled: 4 fit no category and stay in the denominator.
    assert found["review API"]["_reviewed"] == (15, 20)
    assert_one_truth(found, {"Dog": (5, 15), "Blurry": (8, 15), "other (no category)": (4, 15)})
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/").json()
    dog_row = next(c for c in figures["categories"] if c["name"] == "Dog")
    assert dog_row["ceiling"] == pytest.approx(0.30 * 5 / 15)
    assert dog_row["best_error"] == pytest.approx(0.30 * (1 - 5 / 15))
    assert figures["rule"] == "majority"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_reviews_with_errors_that_fit_nothing(world, as_user, api, bob, carol, seed):
    """Random ticks and marks by two people under both rules: every surface agrees, and n
    is every error the team reviewed, those that fit no category included."""
    run, review = world
    rng = random.Random(seed)
    cats = [category(run.dataset, name) for name in ("Dog", "Blurry", "Filter")]
    items = list(review.items.order_by("position"))
    for person in (bob, carol):
        for item in items:
            if rng.random() < 0.25:
                continue  # not looked at yet
            ReviewMark.objects.create(review=review, item=item, user=person)
            for c in cats:
                if rng.random() < 0.3:
                    Tag.objects.create(run=run, example_id=item.example_id, category=c, user=person)
    api.force_authenticate(bob)
    for rule in ("majority", "any"):
        team_rule_set(dataset=run.dataset, rule=rule, user=bob)
        found = surfaces(as_user(bob), api, run, review)
        reviewers = {}
        for item_id, user_id in ReviewMark.objects.values_list("item_id", "user_id"):
            reviewers.setdefault(item_id, set()).add(user_id)
        expected_n = len(reviewers)  # quorum is one: anyone's review counts
        assert found["review API"]["_reviewed"] == (expected_n, 20)
        expected = {}
        for c in cats:
            k = 0
            for item in items:
                people = reviewers.get(item.pk, set())
                ticks = Tag.objects.filter(
                    run=run, example_id=item.example_id, category=c, user__in=people
                ).count()
                if people and (ticks >= 1 if rule == "any" else 2 * ticks > len(people)):
                    k += 1
            expected[c.name] = (k, expected_n)
        none = sum(
            1
            for item in items
            if reviewers.get(item.pk)
            and all(
                not (
                    (
                        t := Tag.objects.filter(
                            run=run,
                            example_id=item.example_id,
                            category=c,
                            user__in=reviewers[item.pk],
                        ).count()
                    )
                    and (rule == "any" or 2 * t > len(reviewers[item.pk]))
                )
                for c in cats
            )
        )
        expected["other (no category)"] = (none, expected_n)
        assert_one_truth(found, {k: v for k, v in expected.items() if v[0]})
