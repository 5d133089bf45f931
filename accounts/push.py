"""Push notifications through Firebase Cloud Messaging (HTTP v1, firebase-admin with a service account).

Devices are fcm-django's ``FCMDevice`` rows (one per FCM registration token, each
owned by one user). Sending happens in a small background thread pool after the
surrounding transaction commits, so it never slows or fails the request that
caused it; tokens FCM reports as unregistered are deactivated (by fcm-django).

With no ``FIREBASE_CREDENTIALS`` push is off: nothing is sent and the health
endpoint says ``"push": "off"``.

``FCM_URL`` exists for fakes and emulators: firebase-admin always calls
``https://fcm.googleapis.com``, so when another base URL is configured a requests
adapter on firebase-admin's session sends those calls there instead. The OAuth
token endpoint comes from the service account's own ``token_uri``.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.db import close_old_connections, transaction

log = logging.getLogger("voidsite.push")

FCM_DEFAULT_URL = "https://fcm.googleapis.com"
PLATFORMS = ("android", "ios", "web")
MAX_TOKEN_CHARS = 4096


class PushNotConfigured(Exception):
    """Push is off: no Firebase credentials."""


@dataclass(frozen=True)
class PushResult:
    sent: int = 0
    failed: int = 0
    deactivated: int = 0


# --- the Firebase app --------------------------------------------------------------

_lock = threading.Lock()
_state: dict = {"app": None, "key": None}


def _credentials_info() -> dict | None:
    raw = (getattr(settings, "FIREBASE_CREDENTIALS", "") or "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return json.loads(raw)
    return json.loads(Path(raw).read_text())


def push_enabled() -> bool:
    return bool((getattr(settings, "FIREBASE_CREDENTIALS", "") or "").strip())


class _RebaseAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for ``https://fcm.googleapis.com`` to another base URL (a fake or an emulator)."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request, *args, **kwargs):
        request.url = self.base_url + request.url[len(FCM_DEFAULT_URL) :]
        return super().send(request, *args, **kwargs)


def firebase_app():
    """The default firebase-admin app for the configured credentials (made once per configuration)."""
    import firebase_admin
    from firebase_admin import credentials, messaging

    if not push_enabled():
        raise PushNotConfigured("Push is off: no Firebase credentials configured.")
    key = (settings.FIREBASE_CREDENTIALS, settings.FIREBASE_PROJECT_ID, settings.FCM_URL, settings.PUSH_TIMEOUT)
    with _lock:
        if _state["app"] is not None and _state["key"] == key:
            return _state["app"]
        if _state["app"] is not None:
            firebase_admin.delete_app(_state["app"])
            _state["app"] = None
        options = {"httpTimeout": settings.PUSH_TIMEOUT}
        if settings.FIREBASE_PROJECT_ID:
            options["projectId"] = settings.FIREBASE_PROJECT_ID
        app = firebase_admin.initialize_app(credentials.Certificate(_credentials_info()), options=options)
        base = settings.FCM_URL.rstrip("/")
        if base != FCM_DEFAULT_URL:
            # firebase-admin has no endpoint option; its messaging service's requests session is
            # the one place to redirect (private attribute, checked by the fake-FCM tests).
            service = messaging._get_messaging_service(app)
            service._client.session.mount(FCM_DEFAULT_URL, _RebaseAdapter(base))
        _state["app"], _state["key"] = app, key
        return app


def firebase_app_reset() -> None:
    """Forget the app (after a settings change, in tests)."""
    import firebase_admin

    with _lock:
        if _state["app"] is not None:
            firebase_admin.delete_app(_state["app"])
        _state["app"], _state["key"] = None, None


async def check_push() -> str:
    """Health part: ``off`` without credentials, ``ok`` when they load (no network call)."""
    if not push_enabled():
        return "off"
    from asgiref.sync import sync_to_async

    await sync_to_async(firebase_app, thread_sensitive=False)()
    return "ok"


# --- sending ------------------------------------------------------------------------------

_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()


def run_in_background(fn, /, **kwargs) -> Future:
    """Run ``fn(**kwargs)`` in the push thread pool; errors are logged, never raised to the caller."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=settings.PUSH_WORKERS, thread_name_prefix="push")

    def job():
        try:
            return fn(**kwargs)
        except Exception:  # a failing push never fails anything else; the log keeps the traceback
            log.exception("push: background job %s failed", getattr(fn, "__name__", fn))
            return None
        finally:
            close_old_connections()

    future = _executor.submit(job)
    _pending.add(future)
    future.add_done_callback(_pending.discard)
    return future


def push_wait(timeout: float = 10.0) -> bool:
    """Wait for background pushes queued so far (tests, benchmarks, shutdown). True if all finished."""
    done, not_done = wait(list(_pending), timeout=timeout)
    return not not_done


def _message(*, title: str, body: str, data: dict):
    from firebase_admin import messaging

    return messaging.Message(
        notification=messaging.Notification(title=title[:200], body=body[:1000]),
        data={str(k): str(v) for k, v in (data or {}).items()},
    )


def push_send(*, user_ids: list[int] | None, title: str, body: str, data: dict) -> PushResult:
    """Send now (blocking) to the active devices of ``user_ids`` (``None``: every active device).

    FCM errors are logged and counted, never raised; unregistered tokens are deactivated.
    """
    from fcm_django.models import FCMDevice

    if not push_enabled():
        return PushResult()
    devices = FCMDevice.objects.filter(active=True)
    if user_ids is not None:
        if not user_ids:
            return PushResult()
        devices = devices.filter(user_id__in=list(user_ids))
    return _send(devices, _message(title=title, body=body, data=data))


def _send(devices, message) -> PushResult:
    try:
        result = devices.send_message(message, app=firebase_app())
    except Exception:  # FCM unreachable, bad credentials...: logged, the caller carries on
        log.exception("push: sending failed")
        return PushResult(failed=devices.count())
    responses = result.response.responses
    sent = sum(1 for r in responses if r.success)
    for r in responses:
        if not r.success:
            log.info("push: a device refused: %s", getattr(r.exception, "code", r.exception))
    return PushResult(sent=sent, failed=len(responses) - sent, deactivated=len(result.deactivated_registration_ids))


def push_to_users(user_ids: list[int] | None, *, title: str, body: str, data: dict) -> None:
    """Push to ``user_ids``' active devices (``None``: every active device) after the current
    transaction commits, in the background. Does nothing when push is off."""
    if not push_enabled():
        return
    ids = None if user_ids is None else list(user_ids)
    transaction.on_commit(
        lambda: run_in_background(push_send, user_ids=ids, title=title, body=body, data=dict(data or {}))
    )


def push_to_token(*, token: str, title: str, body: str, data: dict | None = None) -> PushResult:
    """Send now to one registration token (the admin test endpoint)."""
    from fcm_django.models import FCMDevice

    firebase_app()  # raises PushNotConfigured when off
    devices = FCMDevice.objects.filter(registration_id=token)
    if devices.exists():
        return _send(devices.filter(active=True), _message(title=title, body=body, data=data or {}))
    from firebase_admin import exceptions, messaging

    message = _message(title=title, body=body, data=data or {})
    message.token = token
    try:
        messaging.send(message, app=firebase_app())
    except (exceptions.FirebaseError, ValueError) as exc:  # reported to the admin as a failure, not a 500
        log.info("push: test message refused: %s", type(exc).__name__)
        return PushResult(failed=1)
    return PushResult(sent=1)


# --- the device registry ------------------------------------------------------------------


class DeviceError(ValueError):
    pass


def device_register(*, user, token, platform) -> tuple[object, bool]:
    """Register ``token`` for ``user``; returns ``(device, moved)``.

    A token is unique: if another user held it (a recycled or shared device), it moves
    to ``user``, so one person's notifications never reach another.
    """
    from fcm_django.models import FCMDevice

    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_CHARS:
        raise DeviceError("fcm_token is required (at most 4096 characters).")
    platform = (platform or "android").lower() if isinstance(platform, str | None) else None
    if platform not in PLATFORMS:
        raise DeviceError(f"platform must be one of {', '.join(PLATFORMS)}.")
    token = token.strip()
    with transaction.atomic():
        device, created = FCMDevice.objects.select_for_update().get_or_create(
            registration_id=token, defaults={"user": user, "type": platform, "active": True}
        )
        moved = not created and device.user_id != user.pk
        if not created:
            device.user, device.type, device.active = user, platform, True
            device.save(update_fields=["user", "type", "active"])
    if moved:
        log.info("push: a device token moved to user %s", user.pk)
    return device, moved


def device_deactivate(*, user, token: str | None = None) -> int:
    """Logout: stop pushing to ``user``'s device ``token``, or to all their devices when no token is given."""
    from fcm_django.models import FCMDevice

    devices = FCMDevice.objects.filter(user=user, active=True)
    if token:
        devices = devices.filter(registration_id=token)
    return devices.update(active=False)
