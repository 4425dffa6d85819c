"""The Content-Disposition of every download, built from names people typed.

A name may hold CR/LF (which would split the header: Django refuses it with a 500), quotes,
slashes or non-ASCII letters. The header carries an ASCII fallback `filename=` without any of
those and the exact name, percent-encoded, in RFC 6266's `filename*`."""

import unicodedata
from urllib.parse import quote

UNSAFE_IN_FALLBACK = '"\\/;%'


def _clean(name: str) -> str:
    """The name without control or format characters and path separators, never empty."""
    kept = "".join(
        "-" if c in "/\\" else c for c in name if unicodedata.category(c)[0] != "C" or c == " "
    )
    return kept.strip(" .") or "download"


def content_disposition(filename: str) -> str:
    name = _clean(filename)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = (
        "".join("_" if c in UNSAFE_IN_FALLBACK else c for c in ascii_name).strip() or "download"
    )
    if fallback == name:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
