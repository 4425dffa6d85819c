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


@register.filter
def signed_pct(value, digits=1):
    """A change: -0.08 -> "−8.0 pts"; None -> ""."""
    if value is None:
        return ""
    points = float(value) * 100
    sign = "+" if points > 0 else "−" if points < 0 else "±"
    return f"{sign}{abs(points):.{int(digits)}f} pts"


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
