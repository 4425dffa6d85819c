import pytest
from django.core.exceptions import ValidationError

from mlstrat.review.models import ReviewItem
from mlstrat.review.services import review_create, review_extend
from tests.review.conftest import make_correct, make_errors


def sample(review):
    return list(review.items.order_by("position").values_list("example_id", flat=True))


def test_a_review_samples_only_the_runs_errors_on_the_split(run, alice):
    errors = make_errors(run, 30)
    make_correct(run, 10)
    make_errors(run, 10, split="test")
    review = review_create(run=run, created_by=alice, name="first look", sample_size=20, seed=7)
    picked = set(sample(review))
    assert len(picked) == 20
    assert picked <= {p.example_id for p in errors}


def test_the_same_seed_gives_the_same_sample(run, alice):
    make_errors(run, 40)
    one = review_create(run=run, created_by=alice, name="a", sample_size=10, seed=42)
    two = review_create(run=run, created_by=alice, name="b", sample_size=10, seed=42)
    three = review_create(run=run, created_by=alice, name="c", sample_size=10, seed=43)
    assert sample(one) == sample(two)
    assert sample(one) != sample(three)


def test_a_seed_is_stored_when_none_is_given(run, alice, errors):
    review = review_create(run=run, created_by=alice, name="x", sample_size=5)
    assert review.seed > 0


def test_all_errors_takes_every_error(run, alice):
    make_errors(run, 15)
    review = review_create(run=run, created_by=alice, name="all", sample_size=None, seed=1)
    assert review.items.count() == 15


def test_another_split_can_be_reviewed(run, alice):
    make_errors(run, 5)
    test_errors = make_errors(run, 4, split="test")
    review = review_create(run=run, created_by=alice, name="t", split="test", sample_size=None)
    assert set(sample(review)) == {p.example_id for p in test_errors}


def test_filters_narrow_the_sample(run, alice):
    make_errors(run, 5, label="cat", predicted="dog", source="web")
    birds = make_errors(run, 3, label="bird", predicted="dog", source="phone", confidence=0.95)
    make_errors(run, 2, label="bird", predicted="dog", source="phone", confidence=0.3)
    review = review_create(
        run=run,
        created_by=alice,
        name="confident birds",
        sample_size=None,
        filters={"label": "bird", "source": "phone", "confidence_min": 0.9},
    )
    assert set(sample(review)) == {p.example_id for p in birds}


def test_metadata_filter(run, alice):
    phone = make_errors(run, 3, metadata={"camera": "phone"})
    make_errors(run, 3, metadata={"camera": "dslr"})
    review = review_create(
        run=run,
        created_by=alice,
        name="m",
        sample_size=None,
        filters={"metadata": {"camera": "phone"}},
    )
    assert set(sample(review)) == {p.example_id for p in phone}


def test_unknown_filters_are_refused(run, alice, errors):
    with pytest.raises(ValidationError):
        review_create(run=run, created_by=alice, name="x", filters={"colour": "red"})


def test_extending_keeps_what_was_there_and_continues_the_order(run, alice, blurry):
    make_errors(run, 30)
    review = review_create(run=run, created_by=alice, name="x", sample_size=10, seed=5)
    first = sample(review)
    bigger = review_create(run=run, created_by=alice, name="y", sample_size=25, seed=5)
    added = review_extend(review=review, by=15)
    assert added == 15
    assert sample(review)[:10] == first
    assert sample(review) == sample(bigger)


def test_extending_with_none_adds_all_remaining(run, alice):
    make_errors(run, 12)
    review = review_create(run=run, created_by=alice, name="x", sample_size=5, seed=5)
    assert review_extend(review=review, by=None) == 7
    assert review.items.count() == 12


def test_split_assignment_shares_the_work_evenly(run, alice, bob, carol):
    make_errors(run, 21)
    review = review_create(
        run=run,
        created_by=bob,
        name="shared",
        sample_size=20,
        seed=3,
        assignment="split",
        annotators=[bob, carol],
    )
    counts = {u: ReviewItem.objects.filter(review=review, assignee=u).count() for u in (bob, carol)}
    assert counts == {bob: 10, carol: 10}
    review_extend(review=review, by=1)
    assert ReviewItem.objects.filter(review=review, assignee__isnull=True).count() == 0


def test_split_needs_annotators_who_are_members(run, alice, mallory, errors):
    with pytest.raises(ValidationError):
        review_create(run=run, created_by=alice, name="x", assignment="split", annotators=[])
    with pytest.raises(ValidationError):
        review_create(run=run, created_by=alice, name="x", assignment="split", annotators=[mallory])


def test_an_empty_review_is_refused(run, alice, errors):
    with pytest.raises(ValidationError, match="nothing to review"):
        review_create(run=run, created_by=alice, name="x", filters={"label": "bird"})
    assert not run.reviews.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sample_size": 2**31}, "sample_size"),
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_size_or_seed_beyond_its_column_is_refused(run, alice, errors, fields, field):
    with pytest.raises(ValidationError) as caught:
        review_create(run=run, created_by=alice, name="x", **fields)
    assert list(caught.value.message_dict) == [field]
