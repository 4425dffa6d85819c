from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "mlstrat.imports"
    label = "imports"
