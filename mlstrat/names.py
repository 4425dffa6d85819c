"""Names and free text people type: what the app refuses.

- Control characters (C0 but tab, CR, LF; DEL): never part of a field, and PostgreSQL cannot
  store a NUL at all.
"""

# C0 controls and DEL but \t \n \r: nothing a person types into a field.
CONTROL_CHARACTERS = frozenset(chr(c) for c in [*range(0, 32), 127]) - {"\t", "\n", "\r"}


def has_control_characters(text: str) -> bool:
    return not CONTROL_CHARACTERS.isdisjoint(text)
