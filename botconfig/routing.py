from django.urls import path

from botconfig.consumers import BotConsumer

websocket_urlpatterns = [
    path("ws/bot/", BotConsumer.as_asgi()),
]
