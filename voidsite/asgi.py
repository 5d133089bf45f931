"""ASGI entry point: HTTP (Django, admin static files) and WebSocket (Channels)
from one daphne process."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voidsite.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 (needs the Django app loaded above)
from django.conf import settings  # noqa: E402 (needs the Django app loaded above)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402 (needs the Django app loaded above)
from django.core.handlers.asgi import ASGIHandler  # noqa: E402 (needs the Django app loaded above)

from accounts.ws import JWTAuthMiddleware, OriginPolicyValidator  # noqa: E402 (needs the Django app loaded above)
from voidsite.routing import websocket_urlpatterns  # noqa: E402 (needs the Django app loaded above)


class LeanASGIHandler(ASGIHandler):
    """Django's ASGI handler with ``API_MIDDLEWARE`` (async-native) instead of ``MIDDLEWARE``.

    Django's built-in middleware are MiddlewareMixin classes, each a thread hop per
    request under ASGI; the streaming chat endpoints use no session, CSRF or message.
    """

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE  # read once, at start-up, by the base class
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = full


lean_asgi_app = LeanASGIHandler()
# Static files (admin) are served in-process: no separate web server needed.
full_http_app = ASGIStaticFilesHandler(django_asgi_app)


async def http_app(scope, receive, send):
    if scope["path"].startswith(settings.CHAT_FAST_PATHS):
        return await lean_asgi_app(scope, receive, send)
    return await full_http_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": OriginPolicyValidator(JWTAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
