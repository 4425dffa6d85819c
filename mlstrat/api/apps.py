from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mlstrat.api"
    label = "api"
