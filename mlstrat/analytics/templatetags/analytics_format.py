"""How the dashboards print figures: rates as percentages, missing ones as a dash."""

from django import template

from mlstrat.analytics.figures import pct as _pct

register = template.Library()


@register.filter
def pct(value, digits=1):
    """0.095 -> "9.5%"; None -> "—" (a missing figure is never shown as 0)."""
    if value is None or value == "":
        return "—"
    return _pct(float(value), int(digits))


def _shown_points(value, digits) -> float:
    """A change in points as printed: what rounds to 0.0 is no change."""
    return round(float(value) * 100, int(digits))


@register.filter
def signed_pct(value, digits=1):
    """A change: -0.08 -> "−8.0 pts"; what rounds to zero -> "±0.0 pts"; None -> ""."""
    if value is None:
        return ""
    points = _shown_points(value, digits)
    sign = "+" if points > 0 else "−" if points < 0 else "±"
    return f"{sign}{abs(points):.{int(digits)}f} pts"


@register.filter
def delta_class(value, digits=1):
    """The colour of a change as printed with `digits`: down is better, up is worse, and a
    change that prints as zero is neutral (never red for ±0.0)."""
    if value is None:
        return ""
    points = _shown_points(value, digits)
    return "delta-down" if points < 0 else "delta-up" if points > 0 else "delta-none"


@register.filter
def delta_arrow(value, digits=1):
    if value is None:
        return ""
    points = _shown_points(value, digits)
    return "▼" if points < 0 else "▲" if points > 0 else ""


@register.filter
def interval(figure, prefix=""):
    """A rate dict's 95% interval: "[7.4%, 12.0%]"; empty when unknown."""
    low = figure.get(f"{prefix}low") if isinstance(figure, dict) else None
    high = figure.get(f"{prefix}high") if isinstance(figure, dict) else None
    if low is None or high is None:
        return ""
    return f"[{_pct(low)}, {_pct(high)}]"


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def points(value, digits=2):
    """A ceiling in percentage points of error: 0.005 -> "0.50 pts"; None -> "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f} pts"


@register.filter
def roughly(value):
    """A count to review, as a person says it: 7 -> 7, 118 -> 120, 2345 -> 2,300."""
    if value is None:
        return ""
    n = int(value)
    if n >= 1000:
        n = round(n, -2)
    elif n >= 100:
        n = round(n, -1)
    return f"{n:,}"
