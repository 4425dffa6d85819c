"""Two leads press accept and reject on the same proposals at the same moment, through
the API on PostgreSQL: for each proposal one gets 200, the other 409 with the state the
first left, and the history holds exactly one decision."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mlstrat.labels.models import LabelChange, LabelCorrection
from mlstrat.labels.services import correction_propose
from tests.factories import ExampleFactory, PredictionFactory
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 8


def decide_at_once(correction, deciders):
    barrier = threading.Barrier(len(deciders))
    answers = {}

    def decide(user, verb):
        api = APIClient()
        api.force_authenticate(user)
        url = f"/api/v1/label-corrections/{correction.pk}/{verb}/"
        try:
            barrier.wait()
            response = api.post(url, {"expected_version": 0}, format="json")
            answers[verb] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=pair) for pair in deciders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_one_lead_wins_and_the_other_gets_409_with_the_current_state(
    dataset, runs, bob, alice, carol
):
    require_postgresql("Row locks (test_concurrent_review.py covers SQLite)")
    for i in range(ROUNDS):
        example = ExampleFactory(dataset=dataset, example_id=f"race-{i}", label="cat")
        PredictionFactory(run=runs[0], example=example, predicted_label="dog")
        correction = correction_propose(example=example, proposed_label="dog", proposed_by=carol)

        answers = decide_at_once(correction, [(bob, "accept"), (alice, "reject")])

        assert sorted(code for code, _ in answers.values()) == [200, 409], answers
        final = LabelCorrection.objects.get(pk=correction.pk)
        loser = next(body for code, body in answers.values() if code == 409)
        assert loser["current"]["status"] == final.status
        assert loser["current"]["version"] == final.version == 1
        accepted = final.status == "accepted"
        assert LabelChange.objects.filter(example=example).count() == int(accepted)
        example.refresh_from_db()
        assert example.label == ("dog" if accepted else "cat")
