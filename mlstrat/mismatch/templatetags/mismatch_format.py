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


@register.inclusion_tag("mismatch/_remedy.html")
def mismatch_remedy(project, run):
    """The dashboard's data-mismatch remedies, linked to the tools with their numbers."""
    from mlstrat.mismatch import selectors
    from mlstrat.mismatch.models import SynthesisJob, SynthesisRecipe

    dataset = run.dataset
    comparison = selectors.characteristics_comparison(dataset=dataset)
    return {
        "project": project,
        "dataset": dataset,
        "headline": comparison["headline"],
        "measured": comparison["measured"],
        "reviews": selectors.reviews_for_dataset(dataset=dataset).count(),
        "recipes": SynthesisRecipe.objects.filter(dataset=dataset).count(),
        "jobs": SynthesisJob.objects.filter(recipe__dataset=dataset, status="succeeded").count(),
    }
