import pytest

from mlstrat.datasets.models import FigureState
from mlstrat.labels.models import LabelCorrection
from mlstrat.review.models import Tag, TagEvent
from mlstrat.review.services import TagError, category_update, tag_clear, tag_set, tags_apply
from tests.review.conftest import make_correct


def test_setting_twice_ticks_once_and_audits_both(run, errors, blurry, carol):
    example = errors[0].example
    assert tag_set(run=run, example=example, category=blurry, user=carol) is True
    assert tag_set(run=run, example=example, category=blurry, user=carol) is False
    assert Tag.objects.filter(example=example, category=blurry).count() == 1
    assert list(TagEvent.objects.values_list("action", "changed")) == [
        ("set", True),
        ("set", False),
    ]


def test_clearing_is_idempotent_too(run, errors, blurry, carol):
    example = errors[0].example
    tag_set(run=run, example=example, category=blurry, user=carol)
    assert tag_clear(run=run, example=example, category=blurry, user=carol) is True
    assert tag_clear(run=run, example=example, category=blurry, user=carol) is False
    assert not Tag.objects.exists()


def test_a_clear_never_removes_someone_elses_tick(run, errors, blurry, bob, carol):
    example = errors[0].example
    tag_set(run=run, example=example, category=blurry, user=bob)
    tag_set(run=run, example=example, category=blurry, user=carol)
    tag_clear(run=run, example=example, category=blurry, user=carol)
    assert list(Tag.objects.values_list("user__username", flat=True)) == ["bob"]


def test_bulk_sets_on_many_examples_at_once(run, errors, blurry, carol):
    examples = [p.example for p in errors[:5]]
    tag_set(run=run, example=examples[0], category=blurry, user=carol)
    changed = tags_apply(run=run, examples=examples, category=blurry, user=carol, action="set")
    assert sum(changed.values()) == 4
    assert Tag.objects.filter(user=carol).count() == 5


def test_a_correctly_predicted_example_cannot_be_tagged(run, blurry, carol):
    correct = make_correct(run, 1)[0]
    with pytest.raises(TagError):
        tag_set(run=run, example=correct.example, category=blurry, user=carol)


def test_an_archived_category_cannot_be_ticked_but_keeps_its_ticks(run, errors, blurry, carol):
    tag_set(run=run, example=errors[0].example, category=blurry, user=carol)
    blurry = category_update(category=blurry, archived=True)
    with pytest.raises(TagError):
        tag_set(run=run, example=errors[1].example, category=blurry, user=carol)
    assert Tag.objects.filter(category=blurry).count() == 1


def test_a_tick_asks_for_a_new_analysis_snapshot(run, errors, blurry, carol):
    tag_set(run=run, example=errors[0].example, category=blurry, user=carol)
    assert FigureState.objects.get(run=run).requested_at is not None


def test_incorrect_label_needs_the_label_and_proposes_it(run, errors, incorrect, carol):
    example = errors[0].example
    with pytest.raises(TagError):
        tag_set(run=run, example=example, category=incorrect, user=carol)
    tag_set(run=run, example=example, category=incorrect, user=carol, proposed_label="dog")
    correction = LabelCorrection.objects.get(example=example)
    assert (correction.from_label, correction.proposed_label) == ("cat", "dog")
    assert correction.proposed_by == carol and correction.run == run


def test_an_invalid_proposed_label_leaves_nothing_ticked(run, errors, incorrect, carol):
    with pytest.raises(TagError, match="not a class"):
        tag_set(
            run=run, example=errors[0].example, category=incorrect, user=carol, proposed_label="x"
        )
    assert not Tag.objects.exists() and not LabelCorrection.objects.exists()
