from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "mlstrat.web"
    label = "web"
