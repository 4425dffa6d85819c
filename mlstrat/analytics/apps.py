from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "mlstrat.analytics"
    label = "analytics"
