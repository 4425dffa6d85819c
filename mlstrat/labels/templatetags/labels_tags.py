"""Template helpers of the labels pages, and the label-score snippet other pages include:

{% load labels_tags %}{% label_score run example %}
"""

from django import template

from mlstrat.analytics.figures import pct as _pct
from mlstrat.labels.selectors import label_score_for

register = template.Library()


@register.filter
def pct(rate, digits=1):
    """0.123 -> "12.3%"; None -> "n/a"."""
    return _pct(rate, int(digits))


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.inclusion_tag("labels/_label_score.html")
def label_score(run, example):
    """How likely the example's label in force is under the run (confident learning)."""
    return {"score": label_score_for(run=run, example=example), "run": run, "example": example}
