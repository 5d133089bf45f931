"""ASGI entry point: HTTP (Django, admin static files) and WebSocket (Channels)
from one daphne process."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voidsite.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 (needs the Django app loaded above)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402 (needs the Django app loaded above)

from accounts.ws import JWTAuthMiddleware, OriginPolicyValidator  # noqa: E402 (needs the Django app loaded above)
from voidsite.routing import websocket_urlpatterns  # noqa: E402 (needs the Django app loaded above)

application = ProtocolTypeRouter(
    {
        # Static files (admin) are served in-process: no separate web server needed.
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": OriginPolicyValidator(JWTAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
