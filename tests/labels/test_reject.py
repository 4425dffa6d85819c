import pytest

from mlstrat.labels.models import CheckOutcome, LabelChange
from mlstrat.labels.services import StaleDecision, correction_accept, correction_reject


def test_rejecting_keeps_the_label_and_the_proposal(proposal, example, bob):
    correction_reject(correction=proposal, reviewer=bob, expected_version=0, note="It's a cat")
    example.refresh_from_db()
    assert example.label == "cat"
    proposal.refresh_from_db()
    assert (proposal.status, proposal.review_note) == ("rejected", "It's a cat")
    assert not LabelChange.objects.exists()
    assert example.label_checks.get().outcome == CheckOutcome.CONFIRMED


def test_a_rejected_proposal_cannot_be_accepted_afterwards(proposal, bob):
    correction_reject(correction=proposal, reviewer=bob, expected_version=0)
    with pytest.raises(StaleDecision, match="already rejected by bob") as caught:
        correction_accept(correction=proposal, reviewer=bob, expected_version=1)
    assert caught.value.current.status == "rejected"
