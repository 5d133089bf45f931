"""The chat pipeline: authenticate and reserve (one sync phase), stream from the
upstream, settle (one sync phase) — whatever way the stream ends.

``*_reserve`` functions are sync and do all of a request's first-phase
database work (rate limit, principal, quota) so the async views pay one
thread hop for it; :class:`MeteredStream` settles in ``finally``, because
Django cancels a streaming response's iterator with ``CancelledError`` when
the client goes away.
"""

from __future__ import annotations

import logging
import time

from rest_framework.exceptions import AuthenticationFailed

from accounts import google
from accounts.authentication import user_for_raw_token
from billing import metering
from billing.metering import Refused, Reservation, Settlement, estimate_tokens
from billing.models import Outcome, PrincipalKind
from chat import registry
from chat.limits import ChatInput
from chat.upstreams.base import Final, UpstreamError

log = logging.getLogger("chat")

ENDPOINT_VOID = "void"
ENDPOINT_BYTECHAT = "bytechat"
ENDPOINT_OPENAI = "openai"
ENDPOINT_WS = "ws"
INVALID_ACCESS_TOKEN = "Invalid access token"  # noqa: S105 (a message, not a secret)


def _allowed(route: registry.ModelRoute, kind: str, headers: dict[str, str]) -> None:
    try:
        registry.check_allowed(route, kind)
    except registry.ModelNotAllowed as exc:
        raise Refused(exc.detail, 403, headers, code="model_not_allowed") from None


def _with_headers(refusal: Refused, headers: dict[str, str]) -> Refused:
    refusal.headers = {**headers, **refusal.headers}
    return refusal


# --- principals -------------------------------------------------------------------
def user_for_google_access_token(raw: str, headers: dict[str, str]):
    """The user a non-JWT ByteChat ``access_token`` (a Google access token) belongs to.

    Verified with Google (``accounts.google``, cached briefly): an invalid, expired or
    other app's token is a 401 (so is any non-JWT token while Google sign-in is not
    configured: it cannot be valid here), Google unreachable a 502.
    """
    try:
        return google.user_for_access_token(raw)
    except google.GoogleNotConfigured:
        raise Refused(INVALID_ACCESS_TOKEN, 401, headers, code="invalid_token") from None
    except google.GoogleUnavailable:
        raise Refused("Google could not verify the access token; try again.", 502, headers, code="upstream") from None
    except google.GoogleAuthError:
        raise Refused(INVALID_ACCESS_TOKEN, 401, headers, code="invalid_token") from None


def _user_for_jwt(raw: str):
    try:
        user, _ = user_for_raw_token(raw)
    except AuthenticationFailed:
        return None
    return user


# --- phase 1: reserve (sync, one thread hop) --------------------------------------
def void_reserve(
    *, client_id: str, fingerprint: str, pro_token: str, ip: str, route: registry.ModelRoute, chat: ChatInput
) -> Reservation:
    """VOID's order: per-IP rate limit (429), then a pro token (401/402), else free quota (402)."""
    headers = metering.ip_rate_check(ip=ip)
    try:
        if pro_token:
            _allowed(route, PrincipalKind.PRO_TOKEN, headers)
            return metering.pro_credit_reserve(
                raw_token=pro_token, model=route.name, endpoint=ENDPOINT_VOID, headers=headers
            )
        _allowed(route, PrincipalKind.DEVICE, headers)
        reservation = metering.device_quota_reserve(
            client_id=client_id, fingerprint=fingerprint, ip=ip, model=route.name, endpoint=ENDPOINT_VOID
        )
    except Refused as refusal:
        raise _with_headers(refusal, headers) from None
    reservation.headers = {**headers, **reservation.headers}
    return reservation


def bytechat_reserve(
    *, access_token: str, bearer: str, ip: str, route: registry.ModelRoute, chat: ChatInput
) -> Reservation:
    """ByteChat: ``access_token`` (our JWT, or a Google token) or a Bearer JWT → the user's balance."""
    headers = metering.ip_rate_check(ip=ip)
    user = None
    for raw in (access_token, bearer):
        if raw:
            user = _user_for_jwt(raw)
            if user is not None:
                break
    if user is None:
        if not access_token:
            raise Refused(INVALID_ACCESS_TOKEN, 401, headers, code="invalid_token")
        user = user_for_google_access_token(access_token, headers)
    _allowed(route, PrincipalKind.USER, headers)
    return metering.user_tokens_reserve(
        user=user,
        model=route.name,
        endpoint=ENDPOINT_BYTECHAT,
        prompt_estimate=estimate_tokens(chat.chars),
        max_tokens=chat.max_tokens,
    )


def openai_reserve(*, bearer: str, ip: str, route: registry.ModelRoute, chat: ChatInput) -> Reservation:
    """``/v1``: Bearer = a pro token (``void_…``), a user API key (``vsk_…``) or a user's JWT."""
    headers = metering.ip_rate_check(ip=ip)
    if not bearer:
        raise Refused("Missing bearer token (a JWT, an API key or a pro token).", 401, headers, code="invalid_api_key")
    if bearer.startswith("void_"):
        _allowed(route, PrincipalKind.PRO_TOKEN, headers)
        return metering.pro_credit_reserve(
            raw_token=bearer, model=route.name, endpoint=ENDPOINT_OPENAI, headers=headers
        )
    api_key_id = None
    if bearer.startswith(metering.API_KEY_PREFIX):
        user, key = metering.api_key_user(raw=bearer)
        api_key_id = key.pk if key else None
    else:
        user = _user_for_jwt(bearer)
    if user is None:
        raise Refused("Invalid bearer token.", 401, headers, code="invalid_api_key")
    _allowed(route, PrincipalKind.API_KEY if api_key_id else PrincipalKind.USER, headers)
    reservation = metering.user_tokens_reserve(
        user=user,
        model=route.name,
        endpoint=ENDPOINT_OPENAI,
        prompt_estimate=estimate_tokens(chat.chars),
        max_tokens=chat.max_tokens,
        api_key_id=api_key_id,
    )
    reservation.headers = {**headers, **reservation.headers}
    return reservation


def ws_reserve(*, user, ip: str, route: registry.ModelRoute, chat: ChatInput) -> Reservation:
    headers = metering.ip_rate_check(ip=ip)
    _allowed(route, PrincipalKind.USER, headers)
    return metering.user_tokens_reserve(
        user=user,
        model=route.name,
        endpoint=ENDPOINT_WS,
        prompt_estimate=estimate_tokens(chat.chars),
        max_tokens=chat.max_tokens,
    )


# --- phase 2: stream, then settle -------------------------------------------------
class MeteredStream:
    """An upstream stream that settles its reservation exactly once, however it ends.

    Iterating gives text pieces (``str``) and, after a complete stream, one
    :class:`Final` (by then :attr:`settlement` is set). An :class:`UpstreamError`
    propagates after settling: before the first piece the reservation is
    refunded (outcome ``upstream_error``), after it the used part is charged.
    Closing or cancelling the iteration stops the upstream and settles as
    ``client_disconnected``.
    """

    def __init__(self, *, reservation: Reservation, route: registry.ModelRoute, chat: ChatInput, started: float):
        self.reservation = reservation
        self.route = route
        self.chat = chat
        self.started = started
        self.settlement: Settlement | None = None
        self.final: Final | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.ttfb_ms: int | None = None
        self._events = self._run()

    def __aiter__(self):
        return self._events

    async def first(self):
        """The first event (prefetched by views so an early failure can still be a 502)."""
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def _run(self):
        r = self.reservation
        upstream = registry.upstream_for(self.route)
        max_tokens = r.max_tokens if r.max_tokens is not None else self.chat.max_tokens
        outcome = Outcome.CLIENT_DISCONNECTED
        chars = 0
        final = None
        events = upstream.stream(
            model=self.route.upstream_model,
            messages=self.chat.messages,
            max_tokens=max_tokens,
            temperature=self.chat.temperature,
        )
        try:
            # The upstream clients yield one text per network read (a burst of
            # tokens is one piece), then their Final.
            async for event in events:
                if type(event) is not str:
                    final = event
                    break
                if not chars:
                    self.ttfb_ms = int((time.perf_counter() - self.started) * 1000)
                chars += len(event)
                yield event
            if final is None:
                raise UpstreamError("The model server's stream ended before it was complete.")
            outcome = Outcome.COMPLETED
        except UpstreamError as exc:
            outcome = Outcome.UPSTREAM_ERROR
            log.warning("upstream %s failed for model %s: %s", self.route.kind, self.route.name, exc.detail)
            raise
        except Exception:  # a bug in a client must still end the stream as an upstream error
            outcome = Outcome.UPSTREAM_ERROR
            log.exception("upstream reader failed")
            raise UpstreamError("The model server's reply could not be read.") from None
        finally:
            await events.aclose()  # stops reading: an unfinished upstream response closes its connection
            self.final = final
            self.prompt_tokens = (
                final.prompt_tokens
                if final and final.prompt_tokens is not None
                else (r.prompt_estimate or estimate_tokens(self.chat.chars))
            )
            self.completion_tokens = (
                final.completion_tokens
                if final and final.completion_tokens is not None
                else (estimate_tokens(chars) if chars else 0)
            )
            try:
                self.settlement = await metering.run_in_thread(
                    metering.reservation_settle,
                    reservation=r,
                    outcome=outcome,
                    prompt_tokens=self.prompt_tokens,
                    completion_tokens=self.completion_tokens,
                    refund=outcome == Outcome.UPSTREAM_ERROR and not chars,
                    ttfb_ms=self.ttfb_ms,
                    duration_ms=int((time.perf_counter() - self.started) * 1000),
                )
            except Exception:  # the sweep settles it later; the client's stream must not die of it
                log.exception("settling ledger entry %s failed", r.entry_id)
        yield final or Final()

    @property
    def tokens_left(self) -> int | None:
        if self.settlement is not None and self.settlement.tokens_left is not None:
            return self.settlement.tokens_left
        return self.reservation.tokens_left

    @property
    def tokens_used(self) -> int:
        if self.settlement is not None and self.settlement.settled_now:
            return self.settlement.tokens_charged
        return self.prompt_tokens + self.completion_tokens

    @property
    def finish_reason(self) -> str:
        return self.final.finish_reason if self.final else "stop"
