from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mlstrat.labels.services import correction_propose
from tests.factories import ExampleFactory, PredictionFactory


def _queue(slug="cat-app"):
    return reverse("label-queue", args=[slug])


def test_a_lead_sees_pending_proposals_grouped_by_example(as_user, bob, alice, example, proposal):
    correction_propose(
        example=example, proposed_label="bird", proposed_by=alice, reason="<b>wing</b>"
    )
    response = as_user(bob).get(_queue())
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count(f'id="ex-{example.pk}"') == 1
    assert body.count("data-pending") == 2
    assert "Clearly a puppy" in body and "&lt;b&gt;wing&lt;/b&gt;" in body
    assert f"/examples/{example.pk}/thumbnail/" in body
    # v2 is the latest run: it predicts cat with p(cat) = 0.60.
    assert "v2 predicts <strong>cat</strong>" in body and "p(dog) = 0.30" in body


def test_the_page_shows_the_dev_test_balance_and_estimate(as_user, bob, example, proposal):
    ExampleFactory(dataset=example.dataset, split="test")
    body = as_user(bob).get(_queue()).content.decode()
    assert "Dev and test alike" in body
    assert "dev was checked more deeply" in body
    assert "Bad labels among correct predictions" in body


def test_an_annotator_sees_only_their_own_proposals_without_buttons(
    as_user, carol, bob, example, proposal
):
    correction_propose(example=example, proposed_label="bird", proposed_by=bob)
    body = as_user(carol).get(_queue()).content.decode()
    assert "Clearly a puppy" in body
    assert "→ <strong>bird</strong>" not in body
    assert "data-pending" not in body


def test_filters_by_split_and_status(as_user, bob, example, proposal):
    client = as_user(bob)
    assert f'id="ex-{example.pk}"' not in client.get(_queue(), {"split": "test"}).content.decode()
    assert (
        f'id="ex-{example.pk}"' not in client.get(_queue(), {"status": "accepted"}).content.decode()
    )
    assert f'id="ex-{example.pk}"' in client.get(_queue(), {"status": ""}).content.decode()


def test_an_outsider_gets_404(as_user, mallory, proposal):
    assert as_user(mallory).get(_queue()).status_code == 404


def test_a_lead_accepts_from_the_page(as_user, bob, example, proposal):
    url = reverse("label-correction-decide", args=["cat-app", proposal.pk])
    response = as_user(bob).post(
        url, {"decision": "accept", "expected_version": 0, "label": "dog", "back": _queue()}
    )
    assert response.status_code == 302 and response["Location"] == _queue()
    example.refresh_from_db()
    assert example.label == "dog"


def test_a_stale_decision_on_the_page_is_explained(as_user, bob, example, proposal):
    url = reverse("label-correction-decide", args=["cat-app", proposal.pk])
    client = as_user(bob)
    client.post(url, {"decision": "reject", "expected_version": 0})
    response = client.post(url, {"decision": "accept", "expected_version": 0}, follow=True)
    assert "Not saved: This proposal was already rejected by bob" in response.content.decode()
    example.refresh_from_db()
    assert example.label == "cat"


def test_an_annotator_cannot_decide_from_the_page(as_user, carol, proposal):
    url = reverse("label-correction-decide", args=["cat-app", proposal.pk])
    assert (
        as_user(carol).post(url, {"decision": "accept", "expected_version": 0}).status_code == 403
    )


def test_the_page_is_paginated(as_user, bob, dataset, carol):
    for _ in range(25):
        example = ExampleFactory(dataset=dataset, label="cat")
        correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    client = as_user(bob)
    assert client.get(_queue()).content.decode().count('class="card ex-card"') == 20
    second = client.get(_queue(), {"page": 2}).content.decode()
    assert second.count('class="card ex-card"') == 5


def test_the_queue_costs_the_same_queries_for_5_or_20_examples(
    as_user, bob, dataset, carol, alice, runs, django_assert_max_num_queries
):
    def add(n):
        for _ in range(n):
            example = ExampleFactory(dataset=dataset, label="cat")
            PredictionFactory(run=runs[1], example=example, probabilities={"cat": 0.4, "dog": 0.6})
            correction_propose(example=example, proposed_label="dog", proposed_by=carol)
            correction_propose(example=example, proposed_label="bird", proposed_by=alice)

    client = as_user(bob)
    add(5)
    with CaptureQueriesContext(connection) as few:
        client.get(_queue())
    add(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(_queue()).content.decode()
    assert body.count('class="card ex-card"') == 20
