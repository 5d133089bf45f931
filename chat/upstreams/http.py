"""One shared ``httpx.AsyncClient`` per event loop (pooled connections, explicit
timeouts), and the line reader both HTTP upstreams use.

Timeouts: connect (httpx), first byte (request sent → first body bytes),
idle (silence between chunks) and total (whole stream); lines longer than
``UPSTREAM_MAX_LINE_BYTES`` are an error, not a memory sink.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

import httpx
from django.conf import settings

from chat.upstreams.base import Event, Final, UpstreamError, UpstreamTimeout, short

log = logging.getLogger("chat.upstreams")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_transport: httpx.AsyncBaseTransport | None = None


def set_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Tests: route every upstream call through ``transport`` (e.g. ``httpx.MockTransport``)."""
    global _transport
    _transport = transport
    _clients.clear()


def shared_client() -> httpx.AsyncClient:
    """The process's client for this event loop, created on first use."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        mounts = None
        if _transport is None and settings.UPSTREAM_TRANSPORT == "lean":
            from chat.upstreams.transport import LeanTransport

            # Plain-http upstreams (Ollama, local servers) through the lean transport;
            # https (OpenRouter) through httpx's own.
            mounts = {"http://": LeanTransport(max_idle_per_host=min(settings.UPSTREAM_MAX_CONNECTIONS, 200))}
        client = httpx.AsyncClient(
            transport=_transport,
            mounts=mounts,
            timeout=httpx.Timeout(
                connect=settings.UPSTREAM_CONNECT_TIMEOUT,
                read=None,  # first-byte, idle and total timeouts are applied per read below
                write=settings.UPSTREAM_CONNECT_TIMEOUT,
                pool=settings.UPSTREAM_CONNECT_TIMEOUT,
            ),
            limits=httpx.Limits(
                max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
                max_keepalive_connections=min(settings.UPSTREAM_MAX_CONNECTIONS, 200),
                keepalive_expiry=30,
            ),
            follow_redirects=False,
        )
        _clients[loop] = client
        _close_at_shutdown(client)
    return client


def _close_at_shutdown(client: httpx.AsyncClient) -> None:
    """Under daphne (Twisted), close the client before the reactor stops."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def close():
        if client.is_closed:
            return None
        return defer.Deferred.fromFuture(asyncio.ensure_future(client.aclose()))

    reactor.addSystemEventTrigger("before", "shutdown", close)


async def aclose_all() -> None:
    for client in list(_clients.values()):
        await client.aclose()
    _clients.clear()


async def open_stream(url: httpx.URL | str, payload: dict, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST ``payload`` and return the streaming response once its headers are in.

    Raises UpstreamError for a connection failure or an HTTP error status (with
    the upstream's own message when it sent one).
    """
    client = shared_client()
    request = client.build_request("POST", url, json=payload, headers=headers)
    try:
        async with asyncio.timeout(settings.UPSTREAM_FIRST_BYTE_TIMEOUT):
            response = await client.send(request, stream=True)
    except TimeoutError:
        raise UpstreamTimeout("The model server did not answer in time.") from None
    except httpx.TimeoutException:
        raise UpstreamTimeout("The model server could not be reached in time.") from None
    except httpx.HTTPError as exc:
        raise UpstreamError(f"The model server could not be reached ({type(exc).__name__}).") from None
    if response.status_code >= 400:
        try:
            async with asyncio.timeout(settings.UPSTREAM_IDLE_TIMEOUT):
                body = await response.aread()
        except (TimeoutError, httpx.HTTPError):
            body = b""
        finally:
            await response.aclose()
        raise UpstreamError(f"The model server answered {response.status_code}: {error_message(body)}")
    return response


def error_message(body: bytes) -> str:
    """The message of ``{"error": "..."}`` (Ollama) or ``{"error": {"message": ...}}`` (OpenAI)."""
    try:
        data = json.loads(body[:65536])
    except ValueError:
        return short(body[:200].decode("utf-8", "replace")) or "no details"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message") or error.get("code")
    return short(error or "no details")


async def line_batches(response: httpx.Response) -> AsyncIterator[list[str]]:
    """The response body as lists of complete lines (decoded UTF-8), one list per network read.

    Lines of one read are handed over together, so a burst of tokens costs
    one write to the client, not one per token.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.UPSTREAM_TOTAL_TIMEOUT
    max_line = settings.UPSTREAM_MAX_LINE_BYTES
    timeout = settings.UPSTREAM_FIRST_BYTE_TIMEOUT
    identity = response.headers.get("content-encoding", "identity").lower() in ("", "identity")
    chunks = (response.aiter_raw() if identity else response.aiter_bytes()).__aiter__()
    buf = b""
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            if buf.strip():
                yield [_decode_lines(buf)]
            return
        except TimeoutError:
            raise UpstreamTimeout("The model server stopped sending.") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"The connection to the model server broke ({type(exc).__name__}).") from None
        timeout = settings.UPSTREAM_IDLE_TIMEOUT
        if loop.time() > deadline:
            raise UpstreamTimeout("The reply took longer than the total time allowed.")
        buf += chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > max_line:
                raise UpstreamError("The model server sent a line that is too long.")
            continue
        complete, buf = buf[:cut], buf[cut + 1 :]
        lines = _decode_lines(complete).split("\n")
        if len(buf) > max_line or (len(complete) > max_line and any(len(line) > max_line for line in lines)):
            raise UpstreamError("The model server sent a line that is too long.")
        yield lines


def _decode_lines(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UpstreamError("The model server sent text that is not UTF-8.") from None


_decode = json.JSONDecoder().decode


def decoded(texts: list[str], malformed: str) -> Iterable:
    """The JSON values of ``texts``, one per text, for the line parsers.

    Decoded as one JSON array (one C call instead of one per token); when that
    fails, or does not give one value per text, one by one and lazily, so the
    values before a bad text are still used and the bad one raises
    ``UpstreamError(malformed)``.
    """
    if len(texts) > 1:
        try:
            values = _decode("[" + ",".join(texts) + "]")
        except ValueError:
            values = None
        if values is not None and len(values) == len(texts):
            return values
    return (_decode_one(text, malformed) for text in texts)


def _decode_one(text: str, malformed: str):
    try:
        return _decode(text)
    except ValueError:
        raise UpstreamError(malformed) from None


class LinesParser(Protocol):
    def __call__(self, lines: list[str], pieces: list[str]) -> Final | None:
        """Parse one network read's lines: append their text to ``pieces``; the
        :class:`Final` when the last line is among them (later lines are ignored).

        Raises :class:`UpstreamError` for an error or malformed line; the text
        of the lines before it is in ``pieces``."""


async def parsed_stream(response: httpx.Response, parse: LinesParser) -> AsyncIterator[Event]:
    """Drive a line-based upstream stream: text per network read, then its :class:`Final`.

    What arrived before an error line still reaches the client; after the final
    line the body is read to its end (so the connection returns to the pool); a
    stream that ends without its final line is an error.
    """
    final = None
    try:
        async for lines in line_batches(response):
            if final is not None:
                continue
            pieces: list[str] = []
            failure = None
            try:
                final = parse(lines, pieces)
            except UpstreamError as exc:
                failure = exc
            if pieces:
                yield pieces[0] if len(pieces) == 1 else "".join(pieces)
            if failure is not None:
                raise failure
    finally:
        await response.aclose()
    if final is None:
        raise UpstreamError("The model server's stream ended before it was complete.")
    yield final
