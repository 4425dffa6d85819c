import pytest

from mlstrat.labels.models import CorrectionStatus
from mlstrat.labels.services import InvalidLabel, correction_propose


def test_a_member_proposes_a_new_label(example, carol):
    correction = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    assert correction.status == CorrectionStatus.PENDING
    assert (correction.from_label, correction.proposed_label) == ("cat", "dog")
    example.refresh_from_db()
    assert example.label == "cat"


def test_proposing_the_same_label_twice_keeps_one_proposal(example, carol):
    first = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    again = correction_propose(example=example, proposed_label=" dog ", proposed_by=carol)
    assert again.pk == first.pk


def test_two_people_propose_for_one_example(example, carol, bob):
    correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    correction_propose(example=example, proposed_label="bird", proposed_by=bob)
    assert example.corrections.filter(status=CorrectionStatus.PENDING).count() == 2


@pytest.mark.parametrize(
    "label, reason",
    [("", "Say which label"), ("horse", "not a class"), ("cat", "already the label")],
)
def test_an_unusable_label_is_refused_with_a_reason(example, carol, label, reason):
    with pytest.raises(InvalidLabel, match=reason):
        correction_propose(example=example, proposed_label=label, proposed_by=carol)
