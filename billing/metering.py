"""Metering of chat requests: reserve before the upstream call, settle after.

Every request that reaches a principal's allowance leaves one ``LedgerEntry``:
created with outcome ``reserved`` when the quota is taken, moved to its final
outcome by :func:`reservation_settle` (exactly once: the move is a conditional
``UPDATE ... WHERE outcome = 'reserved'``, so a settle racing the sweep of
orphans counts once). Quotas, credits and tokens move only by conditional
``UPDATE``s on rows locked with ``SELECT ... FOR UPDATE`` inside one
transaction; nothing reads a balance and writes it back unguarded.

Each phase (reserve, settle) is one plain sync function, so async callers pay
one thread hop per phase (:func:`run_in_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import (
    AnonymousDevice,
    ApiKey,
    EntryKind,
    LedgerEntry,
    Outcome,
    PrincipalKind,
    ProToken,
    TokenBalance,
)
from billing.services import pro_token_hash, token_balance_for
from voidsite import ratelimit

log = logging.getLogger("billing.metering")

RATE_GROUP = "chat-ip"
API_KEY_PREFIX = "vsk_"
CAP_RETRY_AFTER = "5"
INSUFFICIENT_TOKENS = "Insufficient tokens. Please contact support to add more tokens."


class Refused(Exception):
    """The request may not go ahead: ``status`` (400/401/402/403/429), a sentence, headers."""

    def __init__(self, detail: str, status: int, headers: dict[str, str] | None = None, code: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.headers = headers or {}
        self.code = code


@dataclass(slots=True)
class Reservation:
    """What :func:`reservation_settle` needs to finish a request's accounting."""

    entry_id: int
    kind: str
    ref: str
    credits: int = 0  # pro credits or free requests taken at reserve (refunded on early failure)
    tokens_reserved: int = 0
    max_tokens: int | None = None  # completion cap to send upstream
    prompt_estimate: int = 0
    device_id: int | None = None
    window_started_at: datetime | None = None
    pro_token_id: int | None = None
    user_id: int | None = None
    api_key_id: int | None = None
    tokens_left: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Settlement:
    outcome: str
    settled_now: bool
    tokens_charged: int = 0
    tokens_left: int | None = None


# --- helpers ----------------------------------------------------------------------
def secure_hash(kind: str, value: str) -> str:
    """HMAC-SHA256 keyed with ``SERVER_SALT``; ``kind`` separates the domains (client, fp, ip)."""
    return hmac.new(settings.SERVER_SALT.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def estimate_tokens(text_chars: int) -> int:
    """A rough token count (4 characters a token) used before the upstream reports usage."""
    return max(1, (text_chars + 3) // 4)


def _after_phase() -> None:
    """Keep the worker's connection for its next phase, unless it saw an error.

    The metering workers are a handful of threads (:func:`_phase_workers`), so
    at most that many pooled connections stay checked out however many
    streams are open; checking one out and back for every phase cost more
    than the phase's own statements on PostgreSQL. A connection that raised
    a database error goes back (closed) and the next phase takes a fresh one.
    """
    if connection.errors_occurred and not connection.in_atomic_block:
        connection.close()


class _PhaseWorkers:
    """A few threads that run metering phases, as many per wake-up as are waiting.

    A hop to a worker thread and back costs two thread wake-ups and GIL hand-offs,
    measured at about 0.3 ms of CPU each on this project's 2-core machine — more
    than a phase's own statements on SQLite. Under load, phases queue up while a
    worker runs; it takes them all (up to ``batch``) in one go and hands their
    results back to the event loop in one callback, so the hop is paid per batch.
    """

    def __init__(self, threads: int, batch: int):
        self._queue: deque = deque()
        self._cv = threading.Condition()
        self._idle = 0
        self._batch = batch
        self._generation = 0
        self._acks = 0
        self._threads = [threading.Thread(target=self._run, name=f"metering-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cv:
            self._queue.append((loop, future, fn))
            if self._idle:
                self._cv.notify()
        return future

    def close_connections(self, timeout: float = 30) -> None:
        """Every worker closes its database connection (it belongs to its thread)."""
        with self._cv:
            self._generation += 1
            self._acks = 0
            self._cv.notify_all()
            if not self._cv.wait_for(lambda: self._acks >= len(self._threads), timeout):
                raise TimeoutError("metering workers did not close their connections")

    def _run(self) -> None:
        seen = 0
        while True:
            with self._cv:
                while not self._queue and self._generation == seen:
                    self._idle += 1
                    self._cv.wait()
                    self._idle -= 1
                close, seen = self._generation != seen, self._generation
                batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
            if close:
                with contextlib.suppress(Exception):  # a broken connection is as good as closed
                    connection.close()
                with self._cv:
                    self._acks += 1
                    self._cv.notify_all()
            results: dict = {}
            for loop, future, fn in batch:
                try:
                    outcome = (future, fn(), None)
                except BaseException as exc:  # noqa: BLE001 (handed to the awaiting coroutine; the worker must live on)
                    outcome = (future, None, exc)
                results.setdefault(loop, []).append(outcome)
            for loop, outcomes in results.items():
                with contextlib.suppress(RuntimeError):  # that event loop is closed: nobody waits
                    loop.call_soon_threadsafe(_deliver, outcomes)


def _deliver(outcomes: list) -> None:
    for future, value, exc in outcomes:
        if future.cancelled():
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)


_workers: dict[str, _PhaseWorkers] = {}
_workers_lock = threading.Lock()


def _phase_workers() -> _PhaseWorkers:
    """SQLite: one thread (it has one writer; parallel writers would only sleep in its
    busy handler). Other databases: up to 8 threads, never more than half of the
    connection pool (``DB_POOL_MAX``), so requests outside the chat path always
    find a connection; each phase runs in its own transaction.

    Decided from the settings: touching ``connection`` on the event loop would
    make Django build a connection object for every request's context.
    """
    engine = settings.DATABASES["default"]["ENGINE"]
    workers = _workers.get(engine)
    if workers is None:
        with _workers_lock:
            workers = _workers.get(engine)
            if workers is None:
                if engine.endswith("sqlite3"):
                    workers = _PhaseWorkers(threads=1, batch=64)
                else:
                    workers = _PhaseWorkers(threads=max(1, min(settings.DB_POOL_MAX // 2, 8)), batch=4)
                _workers[engine] = workers
    return workers


def close_worker_connections() -> None:
    """Have every metering worker hand its database connection back to the pool:
    for the test suite (between tests, so connections kept by the workers never
    pile up on top of the tests' own) and for an orderly shutdown."""
    for workers in list(_workers.values()):
        workers.close_connections()


async def run_in_thread(fn, /, *args, **kwargs):
    """Run one sync metering phase in a metering worker thread.

    Not ``sync_to_async``: the phases need no thread-sensitive context and no
    ``async_to_sync`` inside. The call runs in the worker's own context, not a
    copy of the caller's, so the worker's cache clients
    (``django.core.cache.caches`` is context-local) live as long as the thread
    instead of being rebuilt, with new connections, for every call.
    """

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            _after_phase()

    return await _phase_workers().submit(call)


_RATE_REQUEST = SimpleNamespace(method="POST")


def ip_rate_check(*, ip: str) -> dict[str, str]:
    """Count one chat request for this client IP; ``X-RateLimit-*`` headers, or Refused(429)."""
    rate = f"{settings.RL_MAX_REQUESTS_IP}/{settings.RL_WINDOW_SECONDS}s"
    usage = ratelimit.hit(_RATE_REQUEST, group=RATE_GROUP, value=secure_hash("ip", ip), rate=rate)
    if usage is None:
        return {}
    headers = usage.headers()
    if usage.limited:
        raise Refused("Too many requests from this IP.", 429, headers, code="rate_limited")
    return headers


class _CapReached(Exception):
    pass


def _cap_refusal(headers: dict[str, str]) -> Refused:
    headers = {**headers, "Retry-After": CAP_RETRY_AFTER}
    detail = f"Too many streams at once (at most {settings.CHAT_MAX_CONCURRENT_STREAMS}); wait for one to finish."
    return Refused(detail, 429, headers, code="too_many_streams")


def _reserved_entry(kinds: tuple[str, ...], kind: str, ref: str, **fields) -> int:
    """Inside a reserve transaction: write the request's ledger row as ``reserved``
    unless the principal already has the stream cap's number in flight (then
    _CapReached, and the transaction rolls back what it took). The cap is checked
    in the INSERT itself (``INSERT … SELECT … WHERE (in flight) < cap``): one round
    trip. It runs after the UPDATE that locked the principal's row, so
    concurrent requests of one principal count each other."""
    cap = settings.CHAT_MAX_CONCURRENT_STREAMS
    entry_id = _ledger_insert(
        principal_kind=kind,
        principal_ref=ref,
        outcome=Outcome.RESERVED,
        _in_flight_below=(cap, ref, kinds) if cap > 0 else None,
        **fields,
    )
    if entry_id is None:
        raise _CapReached
    return entry_id


def _device_entry(device_id: int, model: str, endpoint: str) -> int:
    """The ledger row of a free request just taken from a device's window."""
    return _reserved_entry(
        (PrincipalKind.DEVICE,),
        PrincipalKind.DEVICE,
        str(device_id),
        device_id=device_id,
        model=model,
        endpoint=endpoint,
        credits=-1,
    )


def _device_reservation(*, entry_id: int, device_id: int, window_started_at, used: int, limit: int) -> Reservation:
    """A device's reservation; ``used`` counts this request."""
    return Reservation(
        entry_id=entry_id,
        kind=PrincipalKind.DEVICE,
        ref=str(device_id),
        credits=1,
        device_id=device_id,
        window_started_at=window_started_at,
        headers={"X-Free-Left": str(max(limit - used, 0))},
    )


@lru_cache(maxsize=4)
def _ledger_insert_plan(vendor: str) -> SimpleNamespace:
    """The INSERT (plain, and guarded by the stream cap), the prepared defaults, and
    which fields are filled per call."""
    fields = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    head = "INSERT INTO {} ({})".format(qn(LedgerEntry._meta.db_table), ", ".join(qn(f.column) for f in fields))
    values = ", ".join(["%s"] * len(fields))
    returning = f"RETURNING {qn(LedgerEntry._meta.pk.column)}"
    template, timestamps, dynamic = [], [], []
    for index, f in enumerate(fields):
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            timestamps.append((index, f))
            template.append(None)
        elif f.has_default() and callable(f.default):
            dynamic.append((index, f))
            template.append(None)
        else:
            template.append(f.get_db_prep_save(f.get_default(), connection))
    return SimpleNamespace(
        sql=f"{head} VALUES ({values}) {returning}",
        head=head,
        values=values,
        returning=returning,
        template=template,
        by_name={f.attname: (index, f) for index, f in enumerate(fields)},
        timestamps=tuple(timestamps),
        dynamic=tuple(dynamic),
    )


@lru_cache(maxsize=8)
def _guarded_insert_sql(vendor: str, kinds: int) -> str:
    """The ledger INSERT as ``INSERT … SELECT <values> WHERE (in flight) < cap``."""
    plan = _ledger_insert_plan(vendor)
    guard = _hot_sql(vendor).in_flight.format(", ".join(["%s"] * kinds))
    return f"{plan.head} SELECT {plan.values} WHERE ({guard}) < %s {plan.returning}"


def _ledger_insert(*, _in_flight_below: tuple[int, str, tuple[str, ...]] | None = None, **values) -> int | None:
    """Insert one ledger row and return its id: the ORM's ``create`` minus its
    per-call query compilation and per-field preparation of constant defaults
    (this runs for every chat request). Field defaults and ``auto_now_add``
    apply as with ``create``.

    With ``_in_flight_below=(cap, ref, kinds)`` the row is written only while
    fewer than ``cap`` rows of ``ref`` (of those principal kinds) are
    ``reserved``; ``None`` when it was not."""
    plan = _ledger_insert_plan(connection.vendor)
    params = plan.template.copy()
    if plan.timestamps:
        now = timezone.now()
        for index, f in plan.timestamps:
            params[index] = f.get_db_prep_save(now, connection)
    for index, f in plan.dynamic:
        params[index] = f.get_db_prep_save(f.get_default(), connection)
    for name, value in values.items():
        index, f = plan.by_name[name]
        params[index] = f.get_db_prep_save(value, connection)
    sql = plan.sql
    if _in_flight_below is not None:
        cap, ref, kinds = _in_flight_below
        sql = _guarded_insert_sql(connection.vendor, len(kinds))
        params += [ref, *kinds, cap]
    row = _one(sql, params)
    return row[0] if row else None


@lru_cache(maxsize=4)
def _hot_sql(vendor: str) -> SimpleNamespace:
    """Pre-written SQL of the per-request phases (the ORM would rebuild each query every call).

    Portable between SQLite and PostgreSQL; every balance moves by a guarded UPDATE.
    """
    qn = connection.ops.quote_name
    device, ledger, balance, token = (
        qn(m._meta.db_table) for m in (AnonymousDevice, LedgerEntry, TokenBalance, ProToken)
    )
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # Parameters are passed by name-free position; the comments say which.
    return SimpleNamespace(
        # cutoff, cutoff, now, ip_hash, now, client_hash, cutoff, limit
        device_take=(
            f"UPDATE {device} SET"
            " window_used = CASE WHEN window_started_at <= %s THEN 1 ELSE window_used + 1 END,"
            " window_started_at = CASE WHEN window_started_at <= %s THEN %s ELSE window_started_at END,"
            " ip_hash = %s, last_seen_at = %s"
            " WHERE client_hash = %s AND (window_started_at <= %s OR window_used < %s)"
            " RETURNING id, window_started_at, window_used"
        ),
        # now, token_hash
        pro_take=(
            f"UPDATE {token} SET credits_left = credits_left - 1, last_used_at = %s"
            " WHERE token_hash = %s AND credits_left > 0 RETURNING id, credits_left"
        ),
        # user_id
        balance_lock=f"SELECT id, total_tokens, tokens_used, tokens_reserved FROM {balance} WHERE user_id = %s{lock}",
        # want, user_id, want -> what is left after taking it
        balance_take=(
            f"UPDATE {balance} SET tokens_reserved = tokens_reserved + %s"
            " WHERE user_id = %s AND total_tokens - tokens_used - tokens_reserved >= %s"
            " RETURNING total_tokens - tokens_used - tokens_reserved"
        ),
        # amount, id, amount
        balance_reserve=(
            f"UPDATE {balance} SET tokens_reserved = tokens_reserved + %s"
            " WHERE id = %s AND total_tokens >= tokens_used + tokens_reserved + %s"
        ),
        # charge, tokens_reserved, user_id, tokens_reserved, charge -> what is left after
        balance_charge=(
            f"UPDATE {balance} SET tokens_used = tokens_used + %s, tokens_reserved = tokens_reserved - %s"
            " WHERE user_id = %s AND total_tokens - tokens_used - tokens_reserved + %s >= %s"
            " RETURNING total_tokens - tokens_used - tokens_reserved"
        ),
        # charge, tokens_reserved, user_id
        balance_settle=(
            f"UPDATE {balance} SET tokens_used = tokens_used + %s, tokens_reserved = tokens_reserved - %s"
            " WHERE user_id = %s"
        ),
        # outcome, settled_at, credits, tokens, prompt, completion, ttfb, duration, id
        ledger_settle=(
            f"UPDATE {ledger} SET outcome = %s, settled_at = %s, credits = %s, tokens = %s,"
            " prompt_tokens = %s, completion_tokens = %s, ttfb_ms = %s, duration_ms = %s"
            f" WHERE id = %s AND outcome = '{Outcome.RESERVED}'"
        ),
        # principal_ref, kinds...
        in_flight=(
            f"SELECT COUNT(*) FROM {ledger} WHERE principal_ref = %s AND outcome = '{Outcome.RESERVED}'"
            " AND principal_kind IN ({})"
        ),
    )


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


@lru_cache(maxsize=1)
def _window_started_column():
    return AnonymousDevice._meta.get_field("window_started_at").get_col(AnonymousDevice._meta.db_table)


def _py_time(value) -> datetime:
    """A datetime read by raw SQL, converted as the ORM would (SQLite returns naive or text)."""
    column = _window_started_column()
    for convert in connection.ops.get_db_converters(column):
        value = convert(value, column, connection)
    return value


def _one(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _rowcount(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _refused_entry(**fields) -> None:
    _ledger_insert(kind=EntryKind.USAGE, outcome=Outcome.REFUSED, settled_at=timezone.now(), **fields)


# --- anonymous devices (VOID free quota) ------------------------------------------
def _device_bind(*, client_hash: str, fp_hash: str, ip_hash: str, now: datetime) -> tuple[int, datetime, int]:
    """``(id, window_started_at, window_used)`` of the device for these hashes, locked.

    The seed's binding rules: a known client id → its row. An unknown client id
    → the row of the same fingerprint, else of the same IP (the new client id
    is bound to it, so it shares that row's quota). Only then a new row. The
    fingerprint on file is kept when binding by IP, so an old fingerprint
    never finds a fresh row.
    """
    rows = AnonymousDevice.objects.select_for_update().values_list("pk", "window_started_at", "window_used")
    found = rows.filter(client_hash=client_hash)[:1] or rows.filter(fp_hash=fp_hash)[:1]
    if not found:
        found = rows.filter(ip_hash=ip_hash).order_by("-last_seen_at", "-pk")[:1]
    if found:
        return found[0]
    device = AnonymousDevice.objects.create(
        client_hash=client_hash, fp_hash=fp_hash, ip_hash=ip_hash, window_started_at=now, last_seen_at=now
    )
    return device.pk, now, 0


def _device_take_known(
    *, client_hash: str, ip_hash: str, limit: int, ttl: timedelta, model: str, endpoint: str
) -> Reservation | None:
    """The common case in two statements: a known client id with quota left.

    One guarded UPDATE takes the request (starting a new window when the old
    one has expired) and a ledger INSERT records it. ``None`` when the client
    id is unknown or its window is spent: the full path binds and refuses.
    """
    sql = _hot_sql(connection.vendor)
    now = timezone.now()
    db_now, db_cutoff = _db_time(now), _db_time(now - ttl)
    try:
        with transaction.atomic():
            row = _one(sql.device_take, [db_cutoff, db_cutoff, db_now, ip_hash, db_now, client_hash, db_cutoff, limit])
            if row is None:
                return None
            device_id, window_started_at, used = row
            ref = str(device_id)
            entry_id = _device_entry(device_id, model, endpoint)
    except _CapReached:  # the quota taken above was rolled back with the transaction
        _refused_entry(
            principal_kind=PrincipalKind.DEVICE, principal_ref=ref, device_id=device_id, model=model, endpoint=endpoint
        )
        raise _cap_refusal({}) from None
    return _device_reservation(
        entry_id=entry_id, device_id=device_id, window_started_at=_py_time(window_started_at), used=used, limit=limit
    )


def device_quota_reserve(*, client_id: str, fingerprint: str, ip: str, model: str, endpoint: str) -> Reservation:
    """Take one free request from the device's window (exactly ``FREE_LIMIT`` per window).

    Raises Refused(402) when the window is spent, Refused(429) over the stream cap.
    Race-safe: concurrent first requests of one device create one row (a
    unique-constraint loser retries and finds the winner's row). Lock: the
    device row (``SELECT ... FOR UPDATE``) for the transaction.
    """
    client_hash, fp_hash, ip_hash = (
        secure_hash("client", client_id),
        secure_hash("fp", fingerprint),
        secure_hash("ip", ip),
    )
    limit, ttl = settings.FREE_LIMIT, timedelta(seconds=settings.FREE_TTL_SECONDS)
    reservation = _device_take_known(
        client_hash=client_hash, ip_hash=ip_hash, limit=limit, ttl=ttl, model=model, endpoint=endpoint
    )
    if reservation is not None:
        return reservation
    for attempt in range(4):
        now = timezone.now()
        cutoff = now - ttl
        refusal = None
        try:
            with transaction.atomic():
                device_id, window_started_at, window_used = _device_bind(
                    client_hash=client_hash, fp_hash=fp_hash, ip_hash=ip_hash, now=now
                )
                expired = window_started_at <= cutoff
                used = 0 if expired else window_used
                ref = str(device_id)
                # The row is locked, and the guard repeats the rule in SQL: no
                # quota ever moves without a conditional UPDATE.
                this_device = AnonymousDevice.objects.filter(pk=device_id)
                if expired:
                    window_started_at = now
                    moved = this_device.filter(window_started_at__lte=cutoff).update(
                        window_used=1, window_started_at=now, client_hash=client_hash, ip_hash=ip_hash, last_seen_at=now
                    )
                elif used < limit:
                    moved = this_device.filter(window_started_at__gt=cutoff, window_used__lt=limit).update(
                        window_used=F("window_used") + 1, client_hash=client_hash, ip_hash=ip_hash, last_seen_at=now
                    )
                else:
                    moved = 0
                if not moved:
                    _refused_entry(
                        principal_kind=PrincipalKind.DEVICE,
                        principal_ref=ref,
                        device_id=device_id,
                        model=model,
                        endpoint=endpoint,
                    )
                    refusal = Refused(
                        "Free limit reached. Wait 24h or buy Pro.", 402, {"X-Free-Left": "0"}, "free_limit"
                    )
                else:
                    entry_id = _device_entry(device_id, model, endpoint)
        except IntegrityError:
            # Another request created or rebound this device at the same moment.
            if attempt == 3:
                raise
            continue
        except _CapReached:
            _refused_entry(
                principal_kind=PrincipalKind.DEVICE,
                principal_ref=ref,
                device_id=device_id,
                model=model,
                endpoint=endpoint,
            )
            raise _cap_refusal({}) from None
        if refusal is not None:
            raise refusal
        return _device_reservation(
            entry_id=entry_id, device_id=device_id, window_started_at=window_started_at, used=used + 1, limit=limit
        )
    raise AssertionError("unreachable")


def device_quota_reset(*, device_ids: list[int], note: str = "admin reset") -> int:
    """Give devices a fresh window (the seed's /dev/reset-free, as an admin action)."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        for device in AnonymousDevice.objects.select_for_update().filter(pk__in=device_ids):
            given = device.window_used
            AnonymousDevice.objects.filter(pk=device.pk).update(window_used=0, window_started_at=now)
            LedgerEntry.objects.create(
                kind=EntryKind.ADJUSTMENT,
                outcome=Outcome.GRANTED,
                principal_kind=PrincipalKind.DEVICE,
                principal_ref=str(device.pk),
                device=device,
                credits=given,
                settled_at=now,
                note=note,
            )
            count += 1
    return count


# --- pro tokens -------------------------------------------------------------------
def pro_credit_reserve(
    *, raw_token: str, model: str, endpoint: str, headers: dict[str, str] | None = None
) -> Reservation:
    """Take one credit from a pro token. Refused(401) unknown token, (402) no credits left."""
    headers = dict(headers or {})
    token_hash = pro_token_hash(raw_token)
    now = timezone.now()
    refusal = None
    token_id = None
    try:
        with transaction.atomic():
            # The common case: one guarded UPDATE takes the credit.
            row = _one(_hot_sql(connection.vendor).pro_take, [_db_time(now), token_hash])
            if row is not None:
                token_id, credits_left = row
            else:
                # Unknown, or out of credits: say which.
                token = ProToken.objects.select_for_update().filter(token_hash=token_hash).first()
                if token is None:
                    raise Refused("Invalid Pro Token", 401, headers, code="invalid_pro_token")
                token_id, credits_left = token.pk, token.credits_left - 1
                if token.credits_left <= 0 or not (
                    ProToken.objects.filter(pk=token.pk, credits_left__gt=0).update(
                        credits_left=F("credits_left") - 1, last_used_at=now
                    )
                ):
                    _refused_entry(
                        principal_kind=PrincipalKind.PRO_TOKEN,
                        principal_ref=token_hash,
                        pro_token_id=token_id,
                        model=model,
                        endpoint=endpoint,
                    )
                    refusal = Refused(
                        "Pro credits exhausted", 402, {**headers, "X-Pro-Left": "0"}, code="credits_exhausted"
                    )
            if refusal is None:
                entry_id = _reserved_entry(
                    (PrincipalKind.PRO_TOKEN,),
                    PrincipalKind.PRO_TOKEN,
                    token_hash,
                    pro_token_id=token_id,
                    model=model,
                    endpoint=endpoint,
                    credits=-1,
                )
    except _CapReached:
        _refused_entry(
            principal_kind=PrincipalKind.PRO_TOKEN,
            principal_ref=token_hash,
            pro_token_id=token_id,
            model=model,
            endpoint=endpoint,
        )
        raise _cap_refusal(headers) from None
    if refusal is not None:
        raise refusal
    return Reservation(
        entry_id=entry_id,
        kind=PrincipalKind.PRO_TOKEN,
        ref=token_hash,
        credits=1,
        pro_token_id=token_id,
        headers={**headers, "X-Pro-Left": str(credits_left)},
    )


# --- user token balances ----------------------------------------------------------
def user_tokens_reserve(
    *, user, model: str, endpoint: str, prompt_estimate: int, max_tokens: int | None, api_key_id: int | None = None
) -> Reservation:
    """Reserve ``prompt_estimate + max_tokens`` (or what is left, if less) from the user's balance.

    Refused(403) when nothing is left. When less than asked is left, the
    completion cap sent upstream shrinks to fit.
    """
    completion = max_tokens or settings.CHAT_DEFAULT_MAX_TOKENS
    want = prompt_estimate + completion
    kind = PrincipalKind.API_KEY if api_key_id else PrincipalKind.USER
    ref = str(user.pk)
    refusal = None
    try:
        with transaction.atomic():
            sql = _hot_sql(connection.vendor)
            # The common case, one statement: the whole amount is there.
            taken = _one(sql.balance_take, [want, user.pk, want])
            if taken is not None:
                amount, left = want, taken[0] + want
                granted = True
            else:
                found = _one(sql.balance_lock, [user.pk])
                if found is None:
                    token_balance_for(user=user)  # first use: created race-safely with the default
                    found = _one(sql.balance_lock, [user.pk])
                balance_id, total, used, reserved = found
                left = total - used - reserved
                amount = min(want, left)  # less than asked is left: the completion cap shrinks to fit
                granted = amount > 0 and bool(_rowcount(sql.balance_reserve, [amount, balance_id, amount]))
            if not granted:
                _refused_entry(
                    principal_kind=kind,
                    principal_ref=ref,
                    user_id=user.pk,
                    api_key_id=api_key_id,
                    model=model,
                    endpoint=endpoint,
                )
                refusal = Refused(INSUFFICIENT_TOKENS, 403, code="insufficient_tokens")
            else:
                entry_id = _reserved_entry(
                    (PrincipalKind.USER, PrincipalKind.API_KEY),
                    kind,
                    ref,
                    user_id=user.pk,
                    api_key_id=api_key_id,
                    model=model,
                    endpoint=endpoint,
                    tokens_reserved=amount,
                )
    except _CapReached:
        _refused_entry(
            principal_kind=kind,
            principal_ref=ref,
            user_id=user.pk,
            api_key_id=api_key_id,
            model=model,
            endpoint=endpoint,
        )
        raise _cap_refusal({}) from None
    if refusal is not None:
        raise refusal
    if amount < want:
        completion = max(1, amount - prompt_estimate)
    return Reservation(
        entry_id=entry_id,
        kind=kind,
        ref=ref,
        tokens_reserved=amount,
        max_tokens=completion,
        prompt_estimate=prompt_estimate,
        user_id=user.pk,
        api_key_id=api_key_id,
        tokens_left=left - amount,
    )


# --- settle -----------------------------------------------------------------------
def reservation_settle(
    *,
    reservation: Reservation,
    outcome: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    refund: bool = False,
    ttfb_ms: int | None = None,
    duration_ms: int | None = None,
) -> Settlement:
    """Finish a reservation once: charge what was used (or refund it all with ``refund``).

    The ledger row moves out of ``reserved`` by a conditional UPDATE first; if
    that matches nothing (already settled, e.g. by the sweep), no balance moves.
    User balances are charged the reported tokens, never beyond what the
    balance holds; the unused part of the reservation returns.
    """
    r = reservation
    now = timezone.now()
    credits = 0 if refund else -r.credits
    sql = _hot_sql(connection.vendor)
    if r.user_id is None and not refund:
        # A device or pro token charged at reserve: closing the row is one UPDATE.
        moved = _rowcount(
            sql.ledger_settle,
            [outcome, _db_time(now), credits, 0, prompt_tokens, completion_tokens, ttfb_ms, duration_ms, r.entry_id],
        )
        return Settlement(outcome=outcome, settled_now=bool(moved))
    want = 0 if refund else prompt_tokens + completion_tokens
    with transaction.atomic():
        # The ledger row first (exactly once), then the balance. Reserve locks a
        # balance and inserts a new ledger row, so this order cannot deadlock with it.
        moved = _rowcount(
            sql.ledger_settle,
            [
                outcome,
                _db_time(now),
                credits,
                -want,
                prompt_tokens,
                completion_tokens,
                ttfb_ms,
                duration_ms,
                r.entry_id,
            ],
        )
        if not moved:
            return Settlement(outcome=outcome, settled_now=False)
        if r.device_id is not None and refund and r.credits:
            # Only the window the request was counted in gets it back.
            AnonymousDevice.objects.filter(
                pk=r.device_id, window_started_at=r.window_started_at, window_used__gt=0
            ).update(window_used=F("window_used") - 1)
        if r.pro_token_id is not None and refund and r.credits:
            ProToken.objects.filter(pk=r.pro_token_id).update(credits_left=F("credits_left") + r.credits)
        if r.user_id is None:
            return Settlement(outcome=outcome, settled_now=True)
        # The common case, one statement: the balance covers what was used.
        charged = _one(sql.balance_charge, [want, r.tokens_reserved, r.user_id, r.tokens_reserved, want])
        if charged is not None:
            return Settlement(outcome=outcome, settled_now=True, tokens_charged=want, tokens_left=charged[0])
        # It does not: charge what is there, never beyond it.
        found = _one(sql.balance_lock, [r.user_id])
        if found is None:
            raise TokenBalance.DoesNotExist(f"no token balance for user {r.user_id}")
        _, total, used, reserved = found
        available = total - used - reserved + r.tokens_reserved
        charge = max(0, min(want, available))
        _rowcount(sql.balance_settle, [charge, r.tokens_reserved, r.user_id])
        if charge != want:
            LedgerEntry.objects.filter(pk=r.entry_id).update(tokens=-charge)
        return Settlement(outcome=outcome, settled_now=True, tokens_charged=charge, tokens_left=available - charge)


def reservations_sweep(*, older_than_seconds: int) -> int:
    """Settle reservations left open by a crashed process, as ``orphaned``.

    The per-request charge (one credit or free request) stands; reserved user
    tokens go back uncharged, since the usage is unknown.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = LedgerEntry.objects.filter(outcome=Outcome.RESERVED, created_at__lt=cutoff).values(
        "pk", "principal_kind", "principal_ref", "credits", "tokens_reserved", "device_id", "pro_token_id", "user_id"
    )
    settled = 0
    for row in stale.iterator():
        reservation = Reservation(
            entry_id=row["pk"],
            kind=row["principal_kind"],
            ref=row["principal_ref"],
            credits=-row["credits"],
            tokens_reserved=row["tokens_reserved"],
            device_id=row["device_id"],
            pro_token_id=row["pro_token_id"],
            user_id=row["user_id"],
        )
        if reservation_settle(reservation=reservation, outcome=Outcome.ORPHANED).settled_now:
            settled += 1
    return settled


# --- user API keys ----------------------------------------------------------------
def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_key_create(*, user, name: str = "") -> tuple[str, ApiKey]:
    """A new API key for ``user``: returns the raw key (show it once) and the row."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(user=user, name=name[:100], prefix=raw[:12], key_hash=api_key_hash(raw))
    return raw, key


def api_key_revoke(*, key: ApiKey) -> bool:
    """Revoke a key; False when it was already revoked."""
    return bool(ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def api_key_user(*, raw: str):
    """``(user, key)`` for an active key of an active user, else ``(None, None)``."""
    key = ApiKey.objects.select_related("user").filter(key_hash=api_key_hash(raw), revoked_at__isnull=True).first()
    if key is None or not key.user.is_active:
        return None, None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user, key
