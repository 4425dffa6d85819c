from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "mlstrat.review"
    label = "review"
