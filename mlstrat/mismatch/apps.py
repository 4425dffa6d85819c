from django.apps import AppConfig


class MismatchConfig(AppConfig):
    name = "mlstrat.mismatch"
    label = "mismatch"
    verbose_name = "Data mismatch"
