"""Two leads decide the same proposal at once: one wins, the other is told (409), and
the history shows exactly one decision."""

import threading

import pytest
from django.db import close_old_connections, connection

from mlstrat.labels.models import LabelChange, LabelCorrection
from mlstrat.labels.services import StaleDecision, correction_accept, correction_reject


def test_the_second_decision_with_the_same_version_is_refused(proposal, example, bob, alice):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    with pytest.raises(StaleDecision) as caught:
        correction_reject(correction=proposal, reviewer=alice, expected_version=0)
    assert caught.value.current.status == "accepted"
    assert caught.value.current.reviewed_by == bob
    assert LabelChange.objects.filter(example=example).count() == 1


def test_a_decision_on_an_old_version_is_refused(proposal, bob):
    with pytest.raises(StaleDecision, match="changed since you read it"):
        correction_accept(correction=proposal, reviewer=bob, expected_version=7)


def test_two_leads_answer_409_through_the_api(proposal, api, bob, alice):
    url = f"/api/v1/label-corrections/{proposal.pk}/"
    api.force_authenticate(bob)
    assert api.post(url + "accept/", {"expected_version": 0}).status_code == 200
    api.force_authenticate(alice)
    response = api.post(url + "reject/", {"expected_version": 0})
    assert response.status_code == 409
    assert response.json()["current"]["status"] == "accepted"
    assert response.json()["current"]["reviewed_by"] == "bob"


@pytest.mark.django_db(transaction=True)
def test_two_leads_at_the_same_moment_on_postgresql(project, bob, alice, carol):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks need PostgreSQL; the sequential tests cover SQLite.")
    from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory

    dataset = DatasetFactory(project=project)
    example = ExampleFactory(dataset=dataset, label="cat")
    PredictionFactory(run=RunFactory(dataset=dataset), example=example, predicted_label="dog")
    from mlstrat.labels.services import correction_propose

    proposal = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(decision, reviewer):
        try:
            barrier.wait()
            decision(correction=proposal, reviewer=reviewer, expected_version=0)
            outcomes.append("ok")
        except StaleDecision as exc:
            outcomes.append(exc.current.status)
        finally:
            close_old_connections()
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(correction_accept, bob)),
        threading.Thread(target=decide, args=(correction_reject, alice)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = LabelCorrection.objects.get(pk=proposal.pk)
    # One lead decided; the other was refused and told what the first decided.
    assert sorted(outcomes) == sorted(["ok", final.status])
    assert final.version == 1
    assert LabelChange.objects.filter(example=example).count() == (final.status == "accepted")
