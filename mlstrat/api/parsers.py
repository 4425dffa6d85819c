"""The API's JSON parser: a body the app could not store or would trip over is a 400 with
a reason, before any view sees it.

Refused: NUL (and other C0 control characters but tab, CR and LF) in any string or key,
which PostgreSQL cannot store; nesting deeper than MAX_DEPTH (the stdlib decoder recurses
and a deep enough body is a RecursionError); integers outside 64 bits (no column holds
them); NaN and infinities; and a top level that is not an object, since every endpoint
reads named fields (a view that takes another top level lists it in
`json_top_level_types`).
"""

import codecs
import json
import math

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mlstrat.names import has_control_characters

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"JSON parse error - the number {text[:30]} is too large.")
    return value


def _constant(name: str):
    raise ParseError(f"JSON parse error - {name} is not a number JSON allows.")


def check_json_value(value) -> None:
    """Raise ParseError if `value` nests deeper than MAX_DEPTH, holds a control character
    or an integer outside 64 bits (named by its path, e.g. `seed` or `filters.label[0]`)."""
    stack = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if has_control_characters(item):
                raise ParseError("JSON parse error - a string holds a control character (NUL).")
            continue
        if isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            where = f"{path[:100]}: " if path else ""
            raise ParseError(
                f"JSON parse error - {where}the integer {str(item)[:30]} is outside 64 bits."
            )
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth, path))
                stack.append((child, depth + 1, f"{path}.{key}" if path else key))
        else:
            stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_float=_float, parse_constant=_constant)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        check_json_value(data)
        view = parser_context.get("view")
        allowed = getattr(view, "json_top_level_types", (dict,))
        if not isinstance(data, allowed):
            raise ParseError("JSON parse error - the body must be a JSON object.")
        return data
