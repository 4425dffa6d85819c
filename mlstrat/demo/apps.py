from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "mlstrat.demo"
    label = "demo"
