import pytest

from mlstrat.labels.models import CorrectionStatus, LabelChange
from mlstrat.labels.services import (
    StaleDecision,
    correction_accept,
    correction_propose,
    label_change_revert,
)


@pytest.fixture
def accepted(proposal, bob):
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    return LabelChange.objects.get(correction=proposal)


def test_reverting_restores_the_label_and_logs_the_revert(accepted, example, proposal, alice):
    revert = label_change_revert(change=accepted, by=alice, reason="Vet says cat")
    example.refresh_from_db()
    assert example.label == "cat"
    assert (revert.from_label, revert.to_label, revert.reverts) == ("dog", "cat", accepted)
    assert LabelChange.objects.filter(example=example).count() == 2
    proposal.refresh_from_db()
    assert proposal.status == CorrectionStatus.REVERTED
    assert dict(example.predictions.values_list("run__name", "is_error")) == {
        "v1": True,
        "v2": False,
    }


def test_a_change_is_reverted_only_once(accepted, bob):
    label_change_revert(change=accepted, by=bob)
    with pytest.raises(StaleDecision, match="already reverted"):
        label_change_revert(change=accepted, by=bob)


def test_a_revert_can_itself_be_reverted(accepted, example, bob):
    revert = label_change_revert(change=accepted, by=bob)
    label_change_revert(change=revert, by=bob)
    example.refresh_from_db()
    assert example.label == "dog"
    assert example.label_changes.count() == 3


def test_an_older_change_waits_for_the_later_one(accepted, example, carol, bob):
    later = correction_propose(example=example, proposed_label="bird", proposed_by=carol)
    correction_accept(correction=later, reviewer=bob, expected_version=0)
    with pytest.raises(StaleDecision, match="revert the later change first"):
        label_change_revert(change=accepted, by=bob)
    example.refresh_from_db()
    assert example.label == "bird"
