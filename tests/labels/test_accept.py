import pytest

from mlstrat.datasets.models import FigureState
from mlstrat.labels.models import CorrectionStatus, LabelChange
from mlstrat.labels.services import InvalidLabel, correction_accept, correction_propose


def test_accepting_changes_the_label_in_force_and_logs_it(proposal, example, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0, note="agreed")
    example.refresh_from_db()
    assert example.label == "dog"
    assert example.original_label == "cat"
    change = LabelChange.objects.get(example=example)
    assert (change.from_label, change.to_label, change.changed_by) == ("cat", "dog", bob)
    assert "Clearly a puppy" in change.reason and "agreed" in change.reason
    proposal.refresh_from_db()
    assert (proposal.status, proposal.reviewed_by, proposal.version) == ("accepted", bob, 1)


def test_accepting_with_another_label_records_the_edit(proposal, example, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0, label="bird")
    example.refresh_from_db()
    assert example.label == "bird"
    proposal.refresh_from_db()
    assert "instead of “dog”" in proposal.review_note


def test_accepting_one_supersedes_the_other_proposals(proposal, example, bob, alice):
    other = correction_propose(example=example, proposed_label="bird", proposed_by=alice)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    other.refresh_from_db()
    assert other.status == CorrectionStatus.SUPERSEDED
    assert "accepted “dog”" in other.review_note


def test_every_prediction_of_the_example_follows_the_new_label(proposal, example, runs, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    errors = dict(example.predictions.values_list("run__name", "is_error"))
    # v1 predicted dog (now right), v2 predicted cat (now wrong).
    assert errors == {"v1": False, "v2": True}


def test_every_ready_run_gets_fresh_figures_requested(proposal, runs, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    requested = FigureState.objects.filter(requested_at__isnull=False)
    assert set(requested.values_list("run__name", flat=True)) == {"v1", "v2"}


def test_accepting_a_label_outside_the_classes_is_refused(proposal, bob):
    with pytest.raises(InvalidLabel):
        correction_accept(correction=proposal, reviewer=bob, expected_version=0, label="horse")
    proposal.refresh_from_db()
    assert proposal.status == CorrectionStatus.PENDING
