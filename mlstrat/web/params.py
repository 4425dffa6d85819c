"""Ids that pages read from a query or a form, checked before they reach the ORM."""

BIGINT_MAX = 2**63 - 1


def id_from(value) -> int | None:
    """`value` as an id (a whole number within bigint range), else None: a lookup by None
    finds nothing, so the page answers 404 rather than a ValueError's 500."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= BIGINT_MAX else None
