from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "mlstrat.analytics"
    label = "analytics"

    def ready(self):
        # Staleness lives below every app (mlstrat/datasets/staleness.py); the app that
        # computes the figures tells it which task recomputes them.
        from mlstrat.datasets.staleness import use_recompute_task

        from .tasks import recompute_snapshot

        use_recompute_task(recompute_snapshot)
