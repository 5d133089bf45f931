"""Cross-cutting HTTP middleware. Both classes work sync and async, so neither
adds a thread hop in front of an async view."""

from __future__ import annotations

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from voidsite.errors import is_api_path, json_error

log = logging.getLogger("voidsite.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Hybrid:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)


class RequestLogMiddleware(_Hybrid):
    """One line per request: request id, method, path, status, duration.

    Never the query string (it may carry tokens), a header, a body or an address.
    """

    def _begin(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        return time.perf_counter()

    def _end(self, request, response, started):
        response["X-Request-ID"] = request.request_id
        log.info(
            "request_id=%s method=%s path=%s status=%s duration_ms=%.1f",
            request.request_id,
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        started = self._begin(request)
        return self._end(request, self.get_response(request), started)

    async def __acall__(self, request):
        started = self._begin(request)
        return self._end(request, await self.get_response(request), started)


class BodySizeLimitMiddleware(_Hybrid):
    """413 for a declared body over ``MAX_BODY_BYTES``, before anything reads it.

    A body without Content-Length is bounded by Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (same value) when it is read.
    """

    def _too_big(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error("Invalid Content-Length header.", 400)
        if length > settings.MAX_BODY_BYTES:
            return json_error(f"Request body too large (limit {settings.MAX_BODY_BYTES} bytes).", 413)
        return None

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._too_big(request) or self.get_response(request)

    async def __acall__(self, request):
        return self._too_big(request) or await self.get_response(request)

    def process_exception(self, request, exception):
        from django.core.exceptions import RequestDataTooBig

        if isinstance(exception, RequestDataTooBig) and is_api_path(request.path):
            return json_error("Request body too large.", 413)
        return None


class ApiSecurityHeadersMiddleware(_Hybrid):
    """The headers SecurityMiddleware would add to an API answer, without its thread hop."""

    def _headers(self, response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY or "same-origin")
        return response

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._headers(self.get_response(request))

    async def __acall__(self, request):
        return self._headers(await self.get_response(request))
