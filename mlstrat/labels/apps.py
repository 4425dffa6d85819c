from django.apps import AppConfig


class LabelsConfig(AppConfig):
    name = "mlstrat.labels"
    label = "labels"
