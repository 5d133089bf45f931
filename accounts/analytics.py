"""App analytics: sessions and actions of authenticated API requests.

Design (cheap and durable enough): :class:`AnalyticsMiddleware` does no database
I/O on the request path. It appends a small event to an in-process buffer
(a list append under a lock). A daemon thread writes the buffer every
``ANALYTICS_FLUSH_SECONDS`` or as soon as it holds ``ANALYTICS_BATCH_SIZE``
events, in one transaction with a handful of bulk statements, and once more
at interpreter exit. The price: a hard crash (SIGKILL) loses at most one flush
interval of analytics; nothing else ever depends on these rows. Past
``ANALYTICS_BUFFER_MAX`` unflushed events (database down) new events are
dropped and counted, so memory stays bounded.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, F, Sum
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from accounts.models import AppAction, AppPlatform, AppSession, DailyUserActivity, Role, User

log = logging.getLogger("voidsite.analytics")

PLATFORMS = frozenset(AppPlatform.values)


class Event(NamedTuple):
    user_id: int
    platform: str
    name: str
    status: int
    at: float | datetime  # epoch seconds on the request path (cheap); a datetime is accepted too


class _Conf(NamedTuple):
    enabled: bool
    prefixes: tuple[str, ...]
    buffer_max: int
    batch_size: int
    background: bool


_conf: _Conf | None = None


def conf() -> _Conf:
    """The analytics settings, read once (``settings.X`` costs microseconds per access)."""
    global _conf
    if _conf is None:
        _conf = _Conf(
            enabled=settings.ANALYTICS_ENABLED,
            prefixes=tuple(settings.API_PATH_PREFIXES),
            buffer_max=settings.ANALYTICS_BUFFER_MAX,
            batch_size=settings.ANALYTICS_BATCH_SIZE,
            background=settings.ANALYTICS_BACKGROUND,
        )
    return _conf


@receiver(setting_changed)
def _settings_changed(**kwargs):
    global _conf
    _conf = None


def _as_datetime(value: float | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value, tz=UTC)


def platform_from_header(value: str | None) -> str:
    value = (value or "").strip().lower()
    return value if value in PLATFORMS else AppPlatform.UNKNOWN


# --- the buffer ---------------------------------------------------------------------


class AnalyticsBuffer:
    def __init__(self):
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def add(self, event: Event) -> None:
        cfg = conf()
        with self._lock:
            if len(self._events) >= cfg.buffer_max:
                self.dropped += 1
                return
            self._events.append(event)
            size = len(self._events)
        if cfg.background:
            if self._thread is None:
                self._ensure_writer()
            if size >= cfg.batch_size:
                self._wake.set()

    def __len__(self) -> int:
        return len(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events = []

    def flush(self) -> int:
        """Write every buffered event; returns how many. On a database error the
        events go back to the front of the buffer (bounded) and the error is logged."""
        with self._flush_lock:
            with self._lock:
                events, self._events = self._events, []
            if not events:
                return 0
            try:
                analytics_events_write(events=events)
            except Exception:  # analytics must never take the server down; logged, retried
                log.exception("analytics flush of %d events failed; keeping them for the next try", len(events))
                with self._lock:
                    room = max(settings.ANALYTICS_BUFFER_MAX - len(self._events), 0)
                    self.dropped += max(len(events) - room, 0)
                    self._events[:0] = events[:room]
                return 0
            return len(events)

    def _ensure_writer(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
            self._thread.start()
            atexit.register(self._flush_in_thread)

    def _flush_in_thread(self) -> None:
        try:
            self.flush()
        finally:
            connection.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(settings.ANALYTICS_FLUSH_SECONDS)
            self._wake.clear()
            close_old_connections()
            try:
                self.flush()
            finally:
                # The pooled connection goes back to the pool between flushes.
                connection.close()


buffer = AnalyticsBuffer()


# --- the middleware -------------------------------------------------------------------


def _resolved_user(request):
    """The request's user if authentication already happened (DRF sets it), without
    ever triggering a session lookup ourselves."""
    user = request.__dict__.get("user")
    if isinstance(user, LazyObject):
        user = user._wrapped
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "pk", None):
        return None
    if getattr(user, "role", None) == Role.BOT:
        return None  # the bot's service account is not an app user
    return user


def analytics_record(request, response) -> None:
    cfg = conf()
    if not cfg.enabled or not request.path.startswith(cfg.prefixes):
        return
    user = _resolved_user(request)
    if user is None:
        return
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None and match.route else "unresolved"
    buffer.add(
        Event(
            user_id=user.pk,
            platform=platform_from_header(request.META.get("HTTP_X_PLATFORM")),
            name=f"{request.method} {route}"[:160],
            status=response.status_code,
            at=time.time(),
        )
    )


class AnalyticsMiddleware:
    """Records authenticated API requests into :data:`buffer`; sync and async, no I/O."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        response = self.get_response(request)
        analytics_record(request, response)
        return response

    async def __acall__(self, request):
        response = await self.get_response(request)
        analytics_record(request, response)
        return response


# --- writes ---------------------------------------------------------------------------


def analytics_events_write(*, events: list[Event]) -> None:
    """Fold a batch of events into sessions, actions and daily rows, in one transaction.

    Locks the users' open sessions (``select_for_update``) so two workers flushing
    at once extend a session one after the other instead of overwriting each
    other's counts; daily rows grow by ``F()`` increments for the same reason.
    """
    idle = timedelta(seconds=settings.ANALYTICS_SESSION_IDLE)
    events = sorted((e._replace(at=_as_datetime(e.at)) for e in events), key=lambda e: e.at)
    with transaction.atomic():
        users = set(User.objects.filter(pk__in={e.user_id for e in events}).values_list("pk", flat=True))
        open_sessions: dict[tuple[int, str], AppSession] = {}
        for session in (
            AppSession.objects.select_for_update()
            .filter(user_id__in=users, last_activity__gte=events[0].at - idle)
            .order_by("last_activity", "pk")
        ):
            open_sessions[(session.user_id, session.platform)] = session
        created: list[AppSession] = []
        touched: dict[int, AppSession] = {}
        per_day: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0, 0])
        pending: list[tuple[AppSession, Event]] = []
        for event in events:
            if event.user_id not in users:
                continue  # the user was deleted meanwhile
            key = (event.user_id, event.platform)
            day = per_day[(event.at.date(), event.user_id)]
            session = open_sessions.get(key)
            if session is None or event.at - session.last_activity > idle:
                session = AppSession(
                    user_id=event.user_id, platform=event.platform, started_at=event.at, last_activity=event.at
                )
                created.append(session)
                open_sessions[key] = session
                day[0] += 1
            else:
                day[2] += max(int((event.at - session.last_activity).total_seconds()), 0)
                session.last_activity = max(session.last_activity, event.at)
                if session.pk:
                    touched[session.pk] = session
            session.action_count += 1
            day[1] += 1
            pending.append((session, event))
        AppSession.objects.bulk_create(created)
        if touched:
            AppSession.objects.bulk_update(list(touched.values()), ["last_activity", "action_count"])
        AppAction.objects.bulk_create(
            [
                AppAction(session=s, user_id=e.user_id, name=e.name, status_code=e.status, created_at=e.at)
                for s, e in pending
            ]
        )
        DailyUserActivity.objects.bulk_create(
            [DailyUserActivity(date=d, user_id=u) for d, u in per_day], ignore_conflicts=True
        )
        for (d, u), (sessions, actions, seconds) in per_day.items():
            DailyUserActivity.objects.filter(date=d, user_id=u).update(
                sessions=F("sessions") + sessions,
                actions=F("actions") + actions,
                session_seconds=F("session_seconds") + seconds,
            )


# --- reads ----------------------------------------------------------------------------


STATS_WINDOWS = (7, 30, 90)


def analytics_stats(*, days: int | None) -> dict:
    """The seed's overview, from the daily rows only (cheap for all time)."""
    today = timezone.now().date()
    rows = DailyUserActivity.objects.all()
    if days is not None:
        rows = rows.filter(date__gt=today - timedelta(days=days))
    agg = rows.aggregate(
        users=Count("user", distinct=True),
        sessions=Sum("sessions"),
        actions=Sum("actions"),
        seconds=Sum("session_seconds"),
    )
    active_7d = DailyUserActivity.objects.filter(date__gt=today - timedelta(days=7)).values("user").distinct().count()
    sessions = agg["sessions"] or 0
    return {
        "total_users": agg["users"] or 0,
        "active_users_7d": active_7d,
        "total_sessions": sessions,
        "avg_session_duration": (agg["seconds"] or 0) // sessions if sessions else 0,
        "total_actions": agg["actions"] or 0,
        "days": days,
    }


def active_sessions_list(*, limit: int = 500) -> list[dict]:
    since = timezone.now() - timedelta(seconds=settings.ANALYTICS_SESSION_IDLE)
    sessions = (
        AppSession.objects.filter(last_activity__gte=since).select_related("user").order_by("-last_activity")[:limit]
    )
    return [
        {
            "session_id": f"sess_{s.pk}",
            "user_id": s.user.discord_id or str(s.user_id),
            "username": s.user.username,
            "platform": s.platform,
            "last_activity": s.last_activity.isoformat().replace("+00:00", "Z"),
            "duration": s.duration,
        }
        for s in sessions
    ]


def daily_active_users(*, days: int = 30) -> list[tuple[date, int]]:
    """``(day, active users)`` for the last ``days`` days, zero-filled, oldest first."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    counts = dict(
        DailyUserActivity.objects.filter(date__gte=start).values_list("date").annotate(n=Count("user")).order_by()
    )
    return [(start + timedelta(days=i), counts.get(start + timedelta(days=i), 0)) for i in range(days)]
