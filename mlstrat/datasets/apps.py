from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "mlstrat.datasets"
    label = "datasets"
