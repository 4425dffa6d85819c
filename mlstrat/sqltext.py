"""Values as PostgreSQL reads them in bulk, written by our own code where psycopg2's
adaptation of each value would cost more than the statement itself."""

import math
import numbers


def array_literal(values: list) -> str:
    """A PostgreSQL array literal of ints and floats ('{1,2.5,NaN}'), cast by the query
    (`%s::bigint[]`, `%s::double precision[]`). Floats keep every bit: repr is the shortest
    text that reads back as the same double."""
    return "{" + ",".join(map(_number_text, values)) + "}"


def _number_text(number) -> str:
    kind = type(number)
    if kind is float and number - number == 0:  # finite (the common case, checked first)
        return repr(number)
    if kind is int:
        return str(number)
    if isinstance(number, numbers.Integral):
        return str(int(number))
    number = float(number)  # numpy's floats included: their repr is not a number's text
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    return repr(number)
