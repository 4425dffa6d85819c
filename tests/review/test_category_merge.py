"""Categories from whoever tags: annotators add them midway, the dialog proposes a free
key; leads rename, archive and merge them, every step in the audit trail, and a merge
never loses a tick."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mlstrat.review.models import CategoryEvent, ErrorCategory, Tag, TagEvent
from mlstrat.review.services import (
    TagError,
    category_create,
    category_merge,
    tag_set,
)
from tests.services import require_postgresql

from .conftest import make_errors
from .test_tag_concurrency import replay


def test_an_annotator_adds_a_category_midway(api, carol, dataset):
    api.force_authenticate(carol)
    response = api.post(
        "/api/v1/categories/", {"dataset": dataset.pk, "name": "Rotated", "key": "r"}, format="json"
    )
    assert response.status_code == 201, response.content
    category = ErrorCategory.objects.get(name="Rotated")
    assert category.created_by == carol
    event = CategoryEvent.objects.get(category=category)
    assert (event.action, event.user) == ("created", carol)


def test_an_annotator_still_cannot_rename_archive_or_merge(api, carol, blurry, dark):
    api.force_authenticate(carol)
    url = f"/api/v1/categories/{blurry.pk}/"
    assert api.patch(url, {"name": "Y"}, format="json").status_code == 403
    assert api.patch(url, {"archived": True}, format="json").status_code == 403
    assert api.post(url + "merge/", {"into": dark.pk}, format="json").status_code == 403


def test_outsiders_neither_add_nor_see(api, mallory, dataset, blurry, dark):
    api.force_authenticate(mallory)
    body = {"dataset": dataset.pk, "name": "X"}
    assert api.post("/api/v1/categories/", body, format="json").status_code == 404
    merge = f"/api/v1/categories/{blurry.pk}/merge/"
    assert api.post(merge, {"into": dark.pk}, format="json").status_code == 404
    free = f"/api/v1/categories/free-key/?dataset={dataset.pk}"
    assert api.get(free).status_code == 404
    assert api.get(f"/api/v1/categories/events/?dataset={dataset.pk}").status_code == 404


def test_the_proposed_key_is_free(api, carol, dataset, blurry, dark):
    # Taken: l (Incorrectly labeled), b (Blurry), d (Dark); reserved: j k c x a u z ?.
    api.force_authenticate(carol)
    url = f"/api/v1/categories/free-key/?dataset={dataset.pk}"
    assert api.get(url + "&name=Blocky").json() == {"key": "o"}
    assert api.get(url + "&name=Rotated").json() == {"key": "r"}
    assert api.get(url).json() == {"key": "e"}
    assert api.get(url + "&name=Élan 7").json() == {"key": "n"}
    response = api.post(
        "/api/v1/categories/",
        {
            "dataset": dataset.pk,
            "name": "Blocky",
            "key": api.get(url + "&name=Blocky").json()["key"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_an_unknown_query_key_is_refused(api, carol, dataset):
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/categories/free-key/?dataset={dataset.pk}&colour=red")
    assert response.status_code == 400 and "colour" in response.json()


def test_a_lead_merges_and_no_tick_is_lost(api, bob, carol, alice, run, blurry, dark):
    errors = make_errors(run, 4)
    e = [p.example for p in errors]
    tag_set(run=run, example=e[0], category=blurry, user=carol)
    tag_set(run=run, example=e[1], category=blurry, user=carol)
    tag_set(run=run, example=e[1], category=dark, user=carol)  # both: stays one tick
    tag_set(run=run, example=e[1], category=blurry, user=alice)
    tag_set(run=run, example=e[2], category=dark, user=bob)
    api.force_authenticate(bob)
    response = api.post(f"/api/v1/categories/{blurry.pk}/merge/", {"into": dark.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "into": dark.pk,
        "into_name": "Dark",
        "from_name": "Blurry",
        "moved": 2,
        "already_on_target": 1,
    }
    ticks = set(Tag.objects.values_list("example_id", "category_id", "user_id"))
    assert ticks == {
        (e[0].pk, dark.pk, carol.pk),
        (e[1].pk, dark.pk, carol.pk),
        (e[1].pk, dark.pk, alice.pk),
        (e[2].pk, dark.pk, bob.pk),
    }
    blurry.refresh_from_db()
    assert blurry.archived and blurry.merged_into == dark
    # The tick trail replays to the ticks; the merge is in the category trail.
    expected = {(run.pk, ex, cat, user) for ex, cat, user in ticks}
    assert replay(TagEvent.objects.order_by("id"))[0] == expected
    history = api.get(f"/api/v1/categories/events/?dataset={run.dataset_id}").json()
    assert history[0]["action"] == "merged" and history[0]["user"] == "bob"
    assert history[0]["details"]["moved"] == 2


def test_the_merged_category_takes_no_more_ticks_and_does_not_come_back(
    bob, carol, run, blurry, dark
):
    example = make_errors(run, 1)[0].example
    category_merge(source=blurry, target=dark, user=bob)
    with pytest.raises(TagError, match="merged into “Dark”"):
        tag_set(run=run, example=example, category=blurry, user=carol)
    client = APIClient()
    client.force_authenticate(bob)
    response = client.patch(f"/api/v1/categories/{blurry.pk}/", {"archived": False}, format="json")
    assert response.status_code == 400 and "merged" in str(response.json())


@pytest.mark.parametrize(
    "why, into",
    [("itself", "blurry"), ("the builtin", "incorrect"), ("archived", "archived")],
)
def test_merges_that_make_no_sense_are_refused(api, bob, blurry, dark, incorrect, why, into):
    archived = category_create(dataset=blurry.dataset, name="Old", created_by=bob)
    archived.archived = True
    archived.save()
    target = {"blurry": blurry, "incorrect": incorrect, "archived": archived}[into]
    api.force_authenticate(bob)
    response = api.post(
        f"/api/v1/categories/{blurry.pk}/merge/", {"into": target.pk}, format="json"
    )
    assert response.status_code == 400, why
    assert not ErrorCategory.objects.get(pk=blurry.pk).archived


def test_renames_and_archives_are_in_the_trail(api, bob, blurry):
    api.force_authenticate(bob)
    api.patch(f"/api/v1/categories/{blurry.pk}/", {"name": "Out of focus"}, format="json")
    api.patch(f"/api/v1/categories/{blurry.pk}/", {"archived": True}, format="json")
    api.patch(f"/api/v1/categories/{blurry.pk}/", {"archived": False}, format="json")
    trail = list(CategoryEvent.objects.filter(category=blurry).values_list("action", "details"))
    assert trail == [
        ("created", {}),
        ("renamed", {"old": "Blurry", "new": "Out of focus"}),
        ("archived", {}),
        ("restored", {}),
    ]


@pytest.mark.django_db(transaction=True)
def test_ticks_sent_while_a_merge_runs_are_never_lost(project, alice, bob, carol):
    """Threads keep ticking the source while a lead merges it: every tick that was
    answered OK ends up on the target, and the ones refused say where to tick."""
    require_postgresql("Row locks between a merge and ticks")
    from tests.factories import DatasetFactory, RunFactory

    run = RunFactory(dataset=DatasetFactory(project=project))
    source = category_create(dataset=run.dataset, name="Blurry", key="b", created_by=alice)
    target = category_create(dataset=run.dataset, name="Soft", key="s", created_by=alice)
    examples = [p.example for p in make_errors(run, 60)]
    ok, refused = [], []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def ticker(user, mine):
        start.wait()
        try:
            for example in mine:
                try:
                    tag_set(run=run, example=example, category=source, user=user)
                    with lock:
                        ok.append((example.pk, user.pk))
                except TagError:
                    with lock:
                        refused.append((example.pk, user.pk))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=ticker, args=(carol, examples[:30])),
        threading.Thread(target=ticker, args=(bob, examples[30:])),
    ]
    for thread in threads:
        thread.start()
    start.wait()
    category_merge(source=source, target=target, user=bob)
    for thread in threads:
        thread.join()
    on_target = set(Tag.objects.filter(category=target).values_list("example_id", "user_id"))
    assert set(ok) <= on_target and len(ok) + len(refused) == 60
    assert not Tag.objects.filter(category=source).exists()
