"""A lean HTTP/1.1 transport for the shared ``httpx.AsyncClient`` of the upstreams.

Why: model servers send one HTTP chunk per token. httpx's default transport
(httpcore) hands each chunk up through a dozen async layers — on this project's
benchmark that was most of the gateway's CPU per request. This transport
parses with h11 (the same parser httpcore uses) on plain asyncio streams and
yields, per network read, everything that arrived: a burst of 64 tokens is one
``bytes`` for httpx instead of 64. Connections are kept alive and reused per
host; a response not read to its end closes its connection.

Plain HTTP only (the upstreams here are local or behind a TLS-terminating
proxy); an ``https://`` URL is served by httpx's default transport instead
(see :func:`chat.upstreams.http.shared_client`). Timeouts: connect from the
request's httpx timeout; reads are bounded by the callers' first-byte / idle /
total timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import h11
import httpx

READ_SIZE = 65536
IDLE_EXPIRY = 30.0


class _Connection:
    __slots__ = ("reader", "writer", "h11", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=256 * 1024)
        self.idle_since = 0.0

    def reusable(self) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < IDLE_EXPIRY
        )

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_idle_per_host: int = 200):
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)

    async def _connect(self, host: str, port: int, timeout: float | None) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=READ_SIZE * 4)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return _Connection(reader, writer)

    def _checkout(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        return None

    def _checkin(self, key: tuple[str, int], conn: _Connection) -> None:
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle = self._idle[key]
            if len(idle) < self.max_idle_per_host:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol("LeanTransport speaks plain http only")
        key = (url.host, url.port or 80)
        timeout = (request.extensions.get("timeout") or {}).get("connect")
        body = await request.aread()
        target = url.raw_path
        headers = [(k, v) for k, v in request.headers.raw]
        for attempt in (0, 1):
            conn = self._checkout(key) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = await self._connect(key[0], key[1], timeout)
            try:
                return await self._exchange(conn, key, request.method.encode(), target, headers, body)
            except (
                ConnectionError,
                h11.RemoteProtocolError,
                asyncio.IncompleteReadError,
                _ClosedBeforeResponse,
            ) as exc:
                conn.close()
                if reused and isinstance(exc, ConnectionError | _ClosedBeforeResponse):
                    continue  # the server had closed the idle connection: once more on a fresh one
                raise httpx.RemoteProtocolError(f"upstream connection failed: {exc}") from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Connection, key, method: bytes, target: bytes, headers, body: bytes):
        h = conn.h11
        out = h.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            out += h.send(h11.Data(data=body))
        out += h.send(h11.EndOfMessage())
        conn.writer.write(out)
        await conn.writer.drain()
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = await conn.reader.read(READ_SIZE)
                if not data:
                    raise _ClosedBeforeResponse("connection closed before the response")
                h.receive_data(data)
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers,
            stream=_Body(self, conn, key),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason},
        )

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _ClosedBeforeResponse(Exception):
    pass


class _Body(httpx.AsyncByteStream):
    """The response body: one ``bytes`` per network read (all complete data so far)."""

    def __init__(self, transport: LeanTransport, conn: _Connection, key):
        self.transport, self.conn, self.key = transport, conn, key
        self.finished = False
        self.closed = False

    async def __aiter__(self):
        h = self.conn.h11
        while not self.finished:
            parts = []
            while True:
                try:
                    event = h.next_event()
                except h11.RemoteProtocolError as exc:
                    raise httpx.RemoteProtocolError(f"malformed response body: {exc}") from None
                if isinstance(event, h11.Data):
                    parts.append(bytes(event.data))
                    continue
                if isinstance(event, h11.EndOfMessage):
                    self.finished = True
                    break
                if event is h11.NEED_DATA:
                    break
                if isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError("the upstream closed the connection mid-body")
            if parts:
                yield parts[0] if len(parts) == 1 else b"".join(parts)
            if self.finished:
                break
            try:
                data = await self.conn.reader.read(READ_SIZE)
            except ConnectionError as exc:
                raise httpx.ReadError(f"reading from the upstream failed: {exc}") from None
            try:
                h.receive_data(data)  # b"" at EOF: h11 then reports an incomplete body as an error
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from None
            if not data and h.their_state is not h11.DONE:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        await self.aclose()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.finished:
            self.transport._checkin(self.key, self.conn)
        else:
            self.conn.close()
