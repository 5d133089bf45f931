"""WebSocket routes of every app, gathered in one list for the ASGI router."""

from accounts.routing import websocket_urlpatterns as accounts_ws
from botconfig.routing import websocket_urlpatterns as botconfig_ws
from chat.routing import websocket_urlpatterns as chat_ws
from tickets.routing import websocket_urlpatterns as tickets_ws

websocket_urlpatterns = [*accounts_ws, *chat_ws, *tickets_ws, *botconfig_ws]
