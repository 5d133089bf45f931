"""ASGI entry point: HTTP (Django, admin static files) and WebSocket (Channels)
from one daphne process."""

import asyncio
import contextlib
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voidsite.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 (needs the Django app loaded above)
from django.conf import settings  # noqa: E402 (needs the Django app loaded above)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402 (needs the Django app loaded above)
from django.core.exceptions import RequestAborted  # noqa: E402 (needs the Django app loaded above)
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402 (needs the Django app loaded above)
from django.urls import set_script_prefix  # noqa: E402 (needs the Django app loaded above)

from accounts.ws import JWTAuthMiddleware, OriginPolicyValidator  # noqa: E402 (needs the Django app loaded above)
from voidsite.routing import websocket_urlpatterns  # noqa: E402 (needs the Django app loaded above)


class LeanASGIHandler(ASGIHandler):
    """Django's ASGI handler for the chat paths, without its per-request threads.

    - ``API_MIDDLEWARE`` (async-native) instead of ``MIDDLEWARE``: Django's
      built-in middleware are MiddlewareMixin classes, each a thread hop per
      request under ASGI; the chat endpoints use no session, CSRF or message.
    - No ``ThreadSensitiveContext`` (a new thread per request) and no
      ``request_started`` / ``request_finished`` signals (two hops into it):
      their receivers close this thread's database connections and reset the
      query log, and the chat views touch the database only in
      ``billing.metering``'s own executor, which releases its connections
      itself. Everything else — body reading, request creation, disconnect
      handling, streaming — is Django's own code.
    """

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE  # read once, at start-up, by the base class
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = full

    async def __call__(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        response = None
        try:
            set_script_prefix(get_script_prefix(scope))
            request, response = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(response, send)
                return
            tasks = [
                # As Django's handle(): a client that goes away cancels the view
                # (and with it the upstream stream, which then settles).
                asyncio.create_task(self.listen_for_disconnect(receive)),
                asyncio.create_task(self._respond(request, send)),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task
            response = None if tasks[1].cancelled() else tasks[1].result()
        finally:
            if response is not None:
                _close_quietly(response)
            body_file.close()

    async def _respond(self, request, send):
        response = await self.run_get_response(request)
        with contextlib.suppress(asyncio.CancelledError):  # the client left while it was sent
            await self.send_response(response, send)
        return response


def _close_quietly(response) -> None:
    """``HttpResponse.close()`` minus its ``request_finished`` signal (see above)."""
    for closer in response._resource_closers:
        with contextlib.suppress(Exception):
            closer()
    response.closed = True


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
