"""How the data-mismatch pages print measured values."""

from django import template

from mlstrat.mismatch.stats import fmt

register = template.Library()


@register.filter
def num(value):
    """A measured value at a precision a person reads: 9273.4 -> "9,273"; 0.318 -> "0.32"."""
    if value is None or value == "":
        return "—"
    return fmt(float(value))


@register.filter
def get_min(filters, name):
    value = (filters or {}).get(f"char_{name}_min")
    return "" if value is None else value


@register.filter
def get_max(filters, name):
    value = (filters or {}).get(f"char_{name}_max")
    return "" if value is None else value
