from django.urls import path

from tickets.consumers import TicketConsumer

websocket_urlpatterns = [
    path("ws/tickets/", TicketConsumer.as_asgi()),
]
