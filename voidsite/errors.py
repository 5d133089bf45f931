"""One error shape for the whole API: ``{"detail": "<sentence>", ...}``.

DRF views get it from :func:`api_exception_handler`; plain Django views (the
streaming chat endpoints, webhooks) build it with :func:`json_error`; unknown
paths and crashes under the API prefixes get it from the 404/500 handlers.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

log = logging.getLogger("voidsite.errors")


def json_error(detail: str, status_code: int, headers: dict[str, str] | None = None, **extra) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _first_message(errors) -> str:
    """A readable sentence naming the first invalid field of a DRF ValidationError."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return json_error("Request body too large.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handler answers (JSON) and logs it
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(exc.detail), "errors": exc.detail}
    elif isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": _first_message(response.data), "errors": response.data}
    elif isinstance(response.data, list):
        response.data = {"detail": _first_message(response.data)}
    return response


def is_api_path(path: str) -> bool:
    return path.startswith(settings.API_PATH_PREFIXES)


def handler404(request, exception=None):
    if is_api_path(request.path):
        return json_error("Not found.", 404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if is_api_path(request.path):
        return json_error("Internal server error.", 500)
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if is_api_path(request.path):
        return json_error("Bad request.", 400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if is_api_path(request.path):
        return json_error("You do not have permission to perform this action.", 403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
