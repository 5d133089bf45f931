from django.apps import AppConfig


class BotconfigConfig(AppConfig):
    name = "botconfig"
