"""Names and free text people type: what the app refuses and how it compares names.

- Control characters (C0 but tab, CR, LF; DEL) are never part of a field, and PostgreSQL
  cannot store a NUL at all (`has_control_characters`, used on every request).
- A name that identifies something to people (a category, project, dataset, run, review,
  saved view...) is NFKC-normalised, its whitespace collapsed, and refused if it holds an
  invisible character: a control, format (zero-width joiners, bidi overrides and isolates,
  soft hyphens), private-use, unassigned or line-separator code point (`normalise_name`).
- Two names clash when their confusable skeletons are equal (Unicode TR39, casefolded):
  "Dog", "dog" and "Dоg" with a Cyrillic о are one name (`name_key`, `refuse_look_alike`).
  The character -> prototype map is mlstrat/confusables.json, made by
  scripts/make_confusables.py from Unicode's confusables.txt (via confusable-homoglyphs).
- Free text (descriptions, notes, comments, reasons) is capped (`clean_text`).
"""

import functools
import json
import unicodedata
from pathlib import Path

from django.core.exceptions import ValidationError

# C0 controls and DEL but \t \n \r: nothing a person types into a field.
CONTROL_CHARACTERS = frozenset(chr(c) for c in [*range(0, 32), 127]) - {"\t", "\n", "\r"}
# Cc control, Cf format (bidi, zero-width), Cs surrogate, Co private use, Cn unassigned,
# Zl/Zp line and paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
TEXT_MAX_LENGTH = 10_000
CATEGORY_DESCRIPTION_MAX_LENGTH = 2_000
CONFUSABLES_FILE = Path(__file__).with_name("confusables.json")


def has_control_characters(text: str) -> bool:
    return not CONTROL_CHARACTERS.isdisjoint(text)


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'an unnamed character')}"


def normalise_name(name, *, max_length: int = 200, field: str = "name") -> str:
    """`name` in NFKC with single spaces; raises ValidationError({field: reason}) if it is
    empty, too long, or holds an invisible character."""
    if not isinstance(name, str):
        raise ValidationError({field: "A name is text."})
    # Whitespace of any kind (tabs, line breaks, odd spaces) becomes single spaces first.
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    for char in name:
        if unicodedata.category(char) in INVISIBLE_CATEGORIES:
            raise ValidationError(
                {field: f"A name cannot hold invisible or control characters ({_describe(char)})."}
            )
    if not name:
        raise ValidationError({field: "A name cannot be empty."})
    if len(name) > max_length:
        raise ValidationError({field: f"At most {max_length} characters."})
    return name


@functools.cache
def _prototypes() -> dict[str, str]:
    return json.loads(CONFUSABLES_FILE.read_text(encoding="utf-8"))


def skeleton(text: str) -> str:
    """TR39's skeleton: NFD, each character replaced by its confusable prototype, NFD."""
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def name_key(name: str) -> str:
    """What two names must share to look alike: the skeleton, ignoring case and spacing."""
    text = " ".join(unicodedata.normalize("NFKC", name).split())
    return skeleton(skeleton(text).casefold())


def refuse_look_alike(name: str, *, existing, what: str, field: str = "name") -> None:
    """Raise ValidationError if `name` looks like one of the `existing` names."""
    key = name_key(name)
    for other in existing:
        if name_key(other) == key:
            raise ValidationError({field: f"“{name}” looks like the existing {what} “{other}”."})


def clean_text(text, *, field: str, max_length: int = TEXT_MAX_LENGTH) -> str:
    """Free text (a description, a note, a comment): no control characters but tab and line
    breaks, at most `max_length` characters."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ValidationError({field: "Text expected."})
    if has_control_characters(text):
        raise ValidationError({field: "Remove the control characters (such as NUL)."})
    if len(text) > max_length:
        raise ValidationError(
            {field: f"At most {max_length:,} characters (this has {len(text):,})."}
        )
    return text
