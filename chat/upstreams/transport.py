"""A lean HTTP/1.1 transport for the shared ``httpx.AsyncClient`` of the upstreams.

Why: model servers send one HTTP chunk per token. httpx's default transport
(httpcore, on the pure-Python h11 parser) hands each chunk up through a dozen
layers — on this project's benchmark that was most of the gateway's CPU per
request. This transport parses responses with httptools (llhttp, the C parser
uvicorn uses) on plain asyncio streams and yields, per network read,
everything that arrived: a burst of 64 tokens is one ``bytes`` for httpx
instead of 64. Connections are kept alive and reused per host; a response not
read to its end closes its connection.

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

import httptools
import httpx

READ_SIZE = 65536
MAX_HEAD_BYTES = 256 * 1024
IDLE_EXPIRY = 30.0


class _Connection:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def reusable(self) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < IDLE_EXPIRY
        )

    def close(self) -> None:
        self.writer.close()


class _Message:
    """httptools' callbacks for one response: the head, then body pieces as they are parsed."""

    __slots__ = (
        "headers",
        "reason",
        "head_done",
        "informational",
        "body",
        "on_body",
        "complete",
        "keep_alive",
        "extra",
        "began",
        "parser",
    )

    def __init__(self):
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.head_done = False
        self.informational = False
        self.body: list[bytes] = []
        self.on_body = self.body.append  # called per HTTP chunk (a token): no Python frame for it
        self.complete = False
        self.keep_alive = False
        self.extra = False  # bytes beyond this response: the connection is not reused
        self.began = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        if self.began and not self.informational:
            self.extra = True
        self.began = True

    def on_status(self, status: bytes) -> None:
        self.reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() < 200:  # 100 Continue and friends: wait for the real one
            self.informational = True
            self.headers = []
            return
        self.head_done = True

    def on_message_complete(self) -> None:
        if self.informational and not self.head_done:
            self.informational = False
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # only valid until the parser resets

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise httpx.RemoteProtocolError("the upstream switched protocols") from None
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(f"malformed response from the upstream: {exc}") from None

    def delimited(self) -> bool:
        """Whether the body has its own end (chunked or a length) rather than ending at EOF."""
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length" or (lower == b"transfer-encoding" and b"chunked" in value.lower()):
                return True
        return False


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

    def _checkin(self, key: tuple[str, int], conn: _Connection, message: _Message) -> None:
        if message.complete and message.keep_alive and not message.extra:
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
        head = [request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:  # httpx has validated names and values
            head += (name, b": ", value, b"\r\n")
        if body and "content-length" not in request.headers:
            head.append(b"Content-Length: %d\r\n" % len(body))
        head.append(b"\r\n")
        raw = b"".join(head) + body
        for attempt in (0, 1):
            conn = self._checkout(key) if attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = await self._connect(key[0], key[1], timeout)
            try:
                return await self._exchange(conn, key, raw)
            except (ConnectionError, asyncio.IncompleteReadError, _ClosedBeforeResponse) as exc:
                conn.close()
                if reused:
                    continue  # the server had closed the idle connection: once more on a fresh one
                raise httpx.RemoteProtocolError(f"upstream connection failed: {exc}") from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Connection, key, raw: bytes) -> httpx.Response:
        conn.writer.write(raw)
        await conn.writer.drain()
        message = _Message()
        received = 0
        while not message.head_done:
            data = await conn.reader.read(READ_SIZE)
            if not data:
                raise _ClosedBeforeResponse("connection closed before the response")
            message.feed(data)
            received += len(data)
            if received > MAX_HEAD_BYTES and not message.head_done:
                raise httpx.RemoteProtocolError("the upstream's response head is too large")
        return httpx.Response(
            status_code=message.parser.get_status_code(),
            headers=message.headers,
            stream=_Body(self, conn, key, message),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": message.reason},
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

    def __init__(self, transport: LeanTransport, conn: _Connection, key, message: _Message):
        self.transport, self.conn, self.key, self.message = transport, conn, key, message
        self.closed = False

    async def __aiter__(self):
        message = self.message
        body = message.body
        read = self.conn.reader.read
        while True:
            if body:
                data = body[0] if len(body) == 1 else b"".join(body)
                body.clear()
                yield data
            if message.complete:
                break
            try:
                data = await read(READ_SIZE)
            except ConnectionError as exc:
                raise httpx.ReadError(f"reading from the upstream failed: {exc}") from None
            if not data:
                if message.delimited():
                    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
                message.complete = True  # a body without length ends with the connection
                message.extra = True  # ... which cannot be reused
                break
            message.feed(data)
        await self.aclose()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.message.complete:
            self.transport._checkin(self.key, self.conn, self.message)
        else:
            self.conn.close()
