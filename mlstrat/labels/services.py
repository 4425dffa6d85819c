from django.db import transaction

from mlstrat.datasets.models import Example, ModelRun

from .models import CorrectionStatus, LabelCorrection


class InvalidLabel(ValueError):
    """The proposed label is not usable for this example."""


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
    proposed_label = (proposed_label or "").strip()
    if not proposed_label:
        raise InvalidLabel("Say which label the example should have.")
    class_names = example.dataset.class_names
    if class_names and proposed_label not in class_names:
        raise InvalidLabel(
            f"“{proposed_label}” is not a class of this dataset ({', '.join(class_names)})."
        )
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
        reason=reason,
        proposed_by=proposed_by,
    )
