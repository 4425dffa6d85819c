from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mlstrat.accounts"
    label = "accounts"
