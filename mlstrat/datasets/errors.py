"""Whether a prediction is an error: the one rule, in Python (imports) and in SQL (a label
change re-judges every run's predictions of the example in one UPDATE).

An unknown label ("") makes a prediction neither right nor wrong (None): it counts in
neither the numerator nor the denominator of any error rate.
"""

from django.db.models import Case, Expression, Value, When

UNKNOWN = ""


def is_error(*, label: str, predicted: str) -> bool | None:
    if label == UNKNOWN:
        return None
    return predicted != label


def is_error_expression(*, label: str) -> Expression:
    """`is_error` for a Prediction row whose example now has `label`."""
    if label == UNKNOWN:
        return Value(None)
    return Case(When(predicted_label=label, then=Value(False)), default=Value(True))
