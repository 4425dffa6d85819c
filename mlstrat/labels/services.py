"""Writes of the labels concern: propose, decide, revert, check, sample, score.

Decisions lock the proposal row (`select_for_update`) and compare the version the lead
saw with the current one, so two leads acting at once cannot lose a decision: the second
gets `StaleDecision` (the API answers 409 with the current state).

When a proposal is accepted, the other pending proposals for the same example are marked
*superseded* with a note naming the accepted label: they were made against a label that
is no longer in force, and anyone can propose again from the new one.
"""

import random

from django.db import connection, transaction
from django.db.models import BooleanField, Case, F, Value, When
from django.utils import timezone

from mlstrat.analytics.counts import following_label_change
from mlstrat.datasets.models import Example, ModelRun, Prediction
from mlstrat.datasets.sampling import MAX_SEED, SeedOutOfRange, seed_or_new
from mlstrat.datasets.staleness import dataset_figures_stale

from . import ranking
from .models import (
    CheckOrigin,
    CheckOutcome,
    CorrectionStatus,
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCheck,
    LabelCorrection,
    LabelScore,
)

MAX_SAMPLE_SIZE = 10_000


class InvalidLabel(ValueError):
    """The proposed label is not usable for this example."""


class StaleDecision(Exception):
    """Someone decided first, or the object changed since it was read. `current` is the
    object as it is now (a LabelCorrection or a LabelChange)."""

    def __init__(self, message, *, current):
        super().__init__(message)
        self.current = current


class InvalidSample(ValueError):
    """A sample of correct predictions cannot be drawn as asked."""


def _check_label(*, example: Example, label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise InvalidLabel("Say which label the example should have.")
    class_names = example.dataset.classes_for(example.task)
    if class_names and label not in class_names:
        of = f"task “{example.task}”" if example.task else "this dataset"
        raise InvalidLabel(f"“{label}” is not a class of {of} ({', '.join(class_names)}).")
    return label


@transaction.atomic
def correction_propose(
    *,
    example: Example,
    proposed_label: str,
    proposed_by,
    reason: str = "",
    run: ModelRun | None = None,
) -> LabelCorrection:
    """Propose a new label for an example; a lead reviews it. Proposing the same label
    again while one is pending returns the pending proposal (idempotent)."""
    proposed_label = _check_label(example=example, label=proposed_label)
    if proposed_label == example.label:
        raise InvalidLabel(f"“{proposed_label}” is already the label in force.")
    existing = LabelCorrection.objects.filter(
        example=example,
        proposed_by=proposed_by,
        proposed_label=proposed_label,
        status=CorrectionStatus.PENDING,
    ).first()
    if existing:
        return existing
    return LabelCorrection.objects.create(
        example=example,
        run=run,
        from_label=example.label,
        proposed_label=proposed_label,
        reason=(reason or "")[:2000],
        proposed_by=proposed_by,
    )


def _locked_pending(*, correction: LabelCorrection, expected_version: int) -> LabelCorrection:
    locked = LabelCorrection.objects.select_for_update().get(pk=correction.pk)
    if locked.status != CorrectionStatus.PENDING:
        by = locked.reviewed_by.username if locked.reviewed_by else "someone"
        raise StaleDecision(f"This proposal was already {locked.status} by {by}.", current=locked)
    if expected_version is None or int(expected_version) != locked.version:
        raise StaleDecision(
            "This proposal changed since you read it; look again before deciding.", current=locked
        )
    return locked


def _label_set(
    *,
    example: Example,
    to_label: str,
    by,
    reason: str,
    correction: LabelCorrection | None = None,
    reverts: LabelChange | None = None,
) -> LabelChange:
    """Change the label in force, keep every run's errors and counts in step, log it, and
    ask for fresh figures. The caller holds the example's row lock."""
    with following_label_change(example=example):
        change = LabelChange.objects.create(
            example=example,
            from_label=example.label,
            to_label=to_label,
            reason=(reason or "")[:2000],
            correction=correction,
            reverts=reverts,
            changed_by=by,
        )
        Example.objects.filter(pk=example.pk).update(label=to_label)
        example.label = to_label
        predictions_is_error_sync(example=example)
    _rescore_example(example=example)
    dataset_figures_stale(dataset=example.dataset_id)
    return change


def predictions_is_error_sync(*, example: Example) -> int:
    """Every run's prediction of this example judged again under its label in force, in
    one UPDATE (datasets.models.is_error in SQL): wrong or right, or None (neither) while
    the label is unknown (""). Filling an unknown label turns None into True or False."""
    if not example.label:
        verdict = Value(None, output_field=BooleanField())
    else:
        verdict = Case(When(predicted_label=example.label, then=Value(False)), default=Value(True))
    return Prediction.objects.filter(example=example).update(is_error=verdict)


def _rescore_example(*, example: Example) -> None:
    if not example.label:
        # An unknown label is not a bad label: it is left out of the ranking.
        LabelScore.objects.filter(example=example).delete()
        return
    scores = list(LabelScore.objects.filter(example=example))
    if not scores:
        return
    probabilities = dict(
        Prediction.objects.filter(
            example=example, run_id__in=[s.run_id for s in scores]
        ).values_list("run_id", "probabilities")
    )
    for score in scores:
        score.label = example.label
        score.self_confidence, score.margin = ranking.label_quality(
            probabilities.get(score.run_id) or {}, example.label
        )
    LabelScore.objects.bulk_update(scores, ["label", "self_confidence", "margin"])


@transaction.atomic
def correction_accept(
    *,
    correction: LabelCorrection,
    reviewer,
    expected_version: int,
    label: str | None = None,
    note: str = "",
) -> LabelCorrection:
    """Accept a proposal (or, with `label`, accept it with another label): the label in
    force changes, the change is logged, other pending proposals are superseded."""
    locked = _locked_pending(correction=correction, expected_version=expected_version)
    example = (
        Example.objects.select_for_update().select_related("dataset").get(pk=locked.example_id)
    )
    new_label = _check_label(example=example, label=label or locked.proposed_label)
    if new_label == example.label:
        raise InvalidLabel(f"“{new_label}” is already the label in force.")
    note = (note or "").strip()
    if new_label != locked.proposed_label:
        edited = f"Accepted as “{new_label}” instead of “{locked.proposed_label}”."
        note = f"{edited} {note}".strip()
    now = timezone.now()
    locked.status = CorrectionStatus.ACCEPTED
    locked.reviewed_by = reviewer
    locked.reviewed_at = now
    locked.review_note = note[:2000]
    locked.version += 1
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "version"])
    reason = " — ".join(part for part in (locked.reason, note) if part)
    _label_set(example=example, to_label=new_label, by=reviewer, reason=reason, correction=locked)
    LabelCorrection.objects.filter(example=example, status=CorrectionStatus.PENDING).update(
        status=CorrectionStatus.SUPERSEDED,
        reviewed_by=reviewer,
        reviewed_at=now,
        review_note=f"Superseded: {reviewer.username} accepted “{new_label}” "
        f"(proposal #{locked.pk}).",
        version=F("version") + 1,
    )
    LabelCheck.objects.create(
        example=example,
        run=locked.run,
        correction=locked,
        outcome=CheckOutcome.CORRECTED,
        origin=CheckOrigin.DECISION,
        checked_by=reviewer,
    )
    return locked


@transaction.atomic
def correction_reject(
    *, correction: LabelCorrection, reviewer, expected_version: int, note: str = ""
) -> LabelCorrection:
    """Keep the label in force; the proposal stays in the history as rejected."""
    locked = _locked_pending(correction=correction, expected_version=expected_version)
    locked.status = CorrectionStatus.REJECTED
    locked.reviewed_by = reviewer
    locked.reviewed_at = timezone.now()
    locked.review_note = (note or "").strip()[:2000]
    locked.version += 1
    locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "version"])
    LabelCheck.objects.create(
        example_id=locked.example_id,
        run=locked.run,
        correction=locked,
        outcome=CheckOutcome.CONFIRMED,
        origin=CheckOrigin.DECISION,
        checked_by=reviewer,
    )
    return locked


@transaction.atomic
def label_change_revert(*, change: LabelChange, by, reason: str = "") -> LabelChange:
    """Undo a change: the label goes back to what it was, logged as a change of its own
    (so a revert can be reverted too). Only the latest change of an example can be
    reverted; revert later ones first."""
    example = Example.objects.select_for_update().get(pk=change.example_id)
    locked = LabelChange.objects.select_for_update().get(pk=change.pk)
    if LabelChange.objects.filter(reverts=locked).exists():
        raise StaleDecision("This change was already reverted.", current=locked)
    latest = LabelChange.objects.filter(example=example).order_by("-changed_at", "-id").first()
    if latest.pk != locked.pk or example.label != locked.to_label:
        raise StaleDecision(
            f"The label changed since (now “{example.label}”); revert the later change first.",
            current=latest,
        )
    reason = (reason or "").strip() or f"Revert of change #{locked.pk}."
    revert = _label_set(
        example=example, to_label=locked.from_label, by=by, reason=reason, reverts=locked
    )
    if locked.correction_id:
        LabelCorrection.objects.filter(
            pk=locked.correction_id, status=CorrectionStatus.ACCEPTED
        ).update(status=CorrectionStatus.REVERTED, version=F("version") + 1)
    return revert


def label_check_record(
    *,
    example: Example,
    checked_by,
    origin: str,
    outcome: str = CheckOutcome.CONFIRMED,
    run: ModelRun | None = None,
    correction: LabelCorrection | None = None,
) -> LabelCheck:
    """Record that someone looked at an example's label (the sheet calls this with
    origin=error_review when a reviewed error's label was found right)."""
    if origin not in CheckOrigin.values:
        raise ValueError(f"Unknown origin {origin!r}.")
    if outcome not in CheckOutcome.values:
        raise ValueError(f"Unknown outcome {outcome!r}.")
    return LabelCheck.objects.create(
        example=example,
        run=run,
        correction=correction,
        outcome=outcome,
        origin=origin,
        checked_by=checked_by,
    )


@transaction.atomic
def correct_sample_draw(
    *, run: ModelRun, split: str, size: int, created_by, seed: int | None = None
) -> CorrectSample:
    """Draw `size` examples the run got right on `split`, uniformly at random; the seed is
    stored so the draw can be repeated."""
    if split not in {choice for choice, _ in Example._meta.get_field("split").choices}:
        raise InvalidSample(f"Unknown split “{split}”.")
    try:
        size = int(size)
    except (TypeError, ValueError) as exc:
        raise InvalidSample("The sample size is a whole number.") from exc
    if not 1 <= size <= MAX_SAMPLE_SIZE:
        raise InvalidSample(f"Draw between 1 and {MAX_SAMPLE_SIZE} examples.")
    try:
        seed = seed_or_new(seed)
    except SeedOutOfRange as exc:
        raise InvalidSample(f"The seed is a whole number from 0 to {MAX_SEED}.") from exc
    correct = (
        Prediction.objects.filter(run=run, split=split, is_error=False)
        .order_by("example_id")
        .values_list("example_id", flat=True)
    )
    example_ids = list(correct.iterator(chunk_size=20_000))
    if not example_ids:
        raise InvalidSample(f"{run.name} got no {split} example right: nothing to sample.")
    chosen = random.Random(seed).sample(example_ids, min(size, len(example_ids)))
    sample = CorrectSample.objects.create(
        run=run,
        split=split,
        size=len(chosen),
        seed=seed,
        population=len(example_ids),
        created_by=created_by,
    )
    CorrectSampleItem.objects.bulk_create(
        CorrectSampleItem(sample=sample, example_id=example_id, position=position)
        for position, example_id in enumerate(chosen, start=1)
    )
    return sample


@transaction.atomic
def correct_sample_check(
    *, item: CorrectSampleItem, checked_by, outcome: str, label: str = "", reason: str = ""
) -> LabelCheck:
    """A reviewer's verdict on one sampled example: the label is right, or it should be
    `label` (which files a proposal for a lead). Checking again replaces the verdict."""
    item = (
        CorrectSampleItem.objects.select_for_update()
        .select_related("sample__run", "example__dataset")
        .get(pk=item.pk)
    )
    correction = None
    if outcome == CheckOutcome.CORRECTED:
        correction = correction_propose(
            example=item.example,
            proposed_label=label,
            proposed_by=checked_by,
            reason=reason or "Found in a sample of correct predictions.",
            run=item.sample.run,
        )
    elif outcome != CheckOutcome.CONFIRMED:
        raise InvalidLabel("Say whether the label is right (confirmed) or wrong (corrected).")
    check, _ = LabelCheck.objects.update_or_create(
        sample_item=item,
        defaults={
            "example": item.example,
            "run": item.sample.run,
            "correction": correction,
            "outcome": outcome,
            "origin": CheckOrigin.CORRECT_SAMPLE,
            "checked_by": checked_by,
            "checked_at": timezone.now(),
        },
    )
    return check


# The same formulas as ranking.label_quality, in PostgreSQL: one INSERT ... SELECT
# instead of a million rows through Python (tests run both paths on the same table).
_SCORES_SQL = """
INSERT INTO labels_labelscore (run_id, example_id, split, label, self_confidence, margin)
SELECT p.run_id, p.example_id, p.split, e.label, s.p_label,
       s.p_label - COALESCE((
           SELECT max(o.value::float8) FROM jsonb_each_text(p.probabilities) o
           WHERE o.key <> e.label
       ), 0)
FROM datasets_prediction p
JOIN datasets_example e ON e.id = p.example_id
CROSS JOIN LATERAL (
    SELECT COALESCE((p.probabilities ->> e.label)::float8, 0) AS p_label
) s
WHERE p.run_id = %s AND jsonb_typeof(p.probabilities) = 'object' AND e.label <> ''
"""


@transaction.atomic
def label_scores_compute(*, run: ModelRun, batch_size: int = 5000) -> int:
    """Score every example of a run with probabilities against its label in force: in
    one statement on PostgreSQL, elsewhere streaming predictions in batches (never the
    whole run in memory). An unknown label ("", multi-task) is not scored."""
    LabelScore.objects.filter(run=run).delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SCORES_SQL, [run.pk])
            return cursor.rowcount
    return _label_scores_stream(run=run, batch_size=batch_size)


def _label_scores_stream(*, run: ModelRun, batch_size: int) -> int:
    rows = (
        Prediction.objects.filter(run=run, probabilities__isnull=False)
        .order_by("id")
        .values_list("example_id", "split", "example__label", "probabilities")
    )
    batch, total = [], 0
    for example_id, split, label, probabilities in rows.iterator(chunk_size=batch_size):
        if not isinstance(probabilities, dict) or not label:
            continue  # no probabilities, or an unknown label (not a bad one)
        confidence, margin = ranking.label_quality(probabilities, label)
        batch.append(
            LabelScore(
                run=run,
                example_id=example_id,
                split=split,
                label=label,
                self_confidence=confidence,
                margin=margin,
            )
        )
        if len(batch) >= batch_size:
            LabelScore.objects.bulk_create(batch)
            total += len(batch)
            batch = []
    LabelScore.objects.bulk_create(batch)
    return total + len(batch)
