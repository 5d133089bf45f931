"""A fake model server on 127.0.0.1 speaking Ollama's ``/api/chat`` (NDJSON) and
OpenAI's ``/v1/chat/completions`` (SSE and plain JSON), as REFERENCE.md
describes them, and misbehaving on demand.

Behaviour comes from the server's defaults, overridden per request by a query
in the model name, e.g. ``"fake?mode=drop&after=3&tokens=64&delay_ms=20"``:

- ``tokens``: reply length (pieces ``"tok0 "``, ``"tok1 "``, ...), capped by
  ``num_predict`` / ``max_tokens`` (then ``done_reason``/``finish_reason`` is
  ``length``);
- ``delay_ms``: pause before each piece;
- ``mode``: ``ok``; ``http500`` (an error status with the service's error
  body); ``timeout`` (read the request, never answer); ``stall`` (send
  ``after`` pieces, then go silent); ``drop`` (send ``after`` pieces, then cut
  the connection mid-body); ``malformed`` (a line that is not JSON after
  ``after`` pieces); ``error`` (an ``{"error": ...}`` line / event after
  ``after`` pieces); ``no_final`` (end the body cleanly but without the final
  line / ``[DONE]``); ``no_usage`` (OpenAI: no usage chunk);
- ``comments=1``: OpenRouter's ``: OPENROUTER PROCESSING`` keep-alive comments.

Run standalone (benchmarks): ``python -m fakes.upstream --port 0`` prints
``listening http://127.0.0.1:PORT`` and serves until stopped or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

HOST = "127.0.0.1"
MODES = ("ok", "http500", "timeout", "stall", "drop", "malformed", "error", "no_final", "no_usage")


@dataclass(frozen=True)
class Behaviour:
    tokens: int = 16
    delay_ms: float = 0.0
    mode: str = "ok"
    after: int = 2
    comments: bool = False

    def with_query(self, query: str) -> Behaviour:
        values = dict(parse_qsl(query))
        out = self
        if "tokens" in values:
            out = replace(out, tokens=int(values["tokens"]))
        if "delay_ms" in values:
            out = replace(out, delay_ms=float(values["delay_ms"]))
        if "after" in values:
            out = replace(out, after=int(values["after"]))
        if "mode" in values:
            if values["mode"] not in MODES:
                raise ValueError(f"unknown mode {values['mode']!r}")
            out = replace(out, mode=values["mode"])
        if "comments" in values:
            out = replace(out, comments=values["comments"] in ("1", "true"))
        return out


class _Closed(Exception):
    pass


class FakeUpstream:
    """The server. ``start()``/``stop()`` in a running loop, or ``start_in_thread()``."""

    def __init__(self, behaviour: Behaviour | None = None, host: str = HOST, port: int = 0):
        self.behaviour = behaviour or Behaviour()
        self.host, self.port = host, port
        self.requests: list[dict] = []  # the last payloads received (bounded), for assertions
        self.connections_open = 0
        self.connections_total = 0
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=4096, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def start_in_thread(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-upstream", daemon=True)
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.start(), self._loop).result(5)

    def stop_in_thread(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    # --- HTTP/1.1 ---------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        self._handlers.add(task)
        self.connections_open += 1
        self.connections_total += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                keep_alive = headers.get("connection", "").lower() != "close"
                await self._route(method, path.split("?", 1)[0], body, writer)
                if not keep_alive:
                    return
        except (_Closed, ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self.connections_open -= 1
            self._handlers.discard(task)
            writer.close()

    async def _route(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter):
        if method == "GET" and path == "/v1/models":
            data = {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "fake"}]}
            return await self._json(writer, 200, data)
        if method != "POST" or path not in ("/api/chat", "/v1/chat/completions"):
            return await self._json(writer, 404, {"error": "not found"})
        try:
            payload = json.loads(body)
            model = payload["model"]
            behaviour = self.behaviour.with_query(model.partition("?")[2])
        except (ValueError, KeyError, TypeError) as exc:
            return await self._json(writer, 400, {"error": f"bad request: {exc}"})
        self.requests.append(payload)
        del self.requests[:-50]
        if path == "/api/chat":
            await self._ollama(payload, behaviour, writer)
        else:
            await self._openai(payload, behaviour, writer)

    async def _json(self, writer, status: int, data: dict):
        raw = json.dumps(data).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        await writer.drain()

    def _start_chunked(self, writer, content_type: str):
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())

    @staticmethod
    def _chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    async def _pieces(self, behaviour: Behaviour, limit: int | None, writer, emit):
        """Write the reply pieces through ``emit(i, text) -> bytes``; returns (count, finish) or None when a
        failure mode ended the body."""
        count = behaviour.tokens if limit is None else min(behaviour.tokens, limit)
        finish = "length" if limit is not None and limit < behaviour.tokens else "stop"
        delay = behaviour.delay_ms / 1000
        fail_at = behaviour.after if behaviour.mode in ("stall", "drop", "malformed", "error") else None
        for i in range(count):
            if fail_at is not None and i == fail_at:
                return None, behaviour.mode
            if delay:
                await writer.drain()
                await asyncio.sleep(delay)
            writer.write(self._chunk(emit(i, f"tok{i} ")))
        await writer.drain()
        if fail_at is not None and fail_at >= count:
            return None, behaviour.mode
        return count, finish

    async def _fail(self, mode: str, writer, error_line: bytes, malformed: bytes):
        if mode == "stall":
            await writer.drain()
            await asyncio.sleep(3600)
        if mode == "drop":
            await writer.drain()
            writer.transport.abort()
            raise _Closed
        if mode == "malformed":
            writer.write(self._chunk(malformed))
        if mode == "error":
            writer.write(self._chunk(error_line))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _ollama(self, payload: dict, b: Behaviour, writer):
        model = payload["model"]
        if b.mode == "http500":
            return await self._json(writer, 500, {"error": "model runner has unexpectedly stopped"})
        if b.mode == "timeout":
            await asyncio.sleep(3600)
        limit = (payload.get("options") or {}).get("num_predict")
        created = "2024-07-01T00:00:00.000000Z"
        head = json.dumps({"model": model, "created_at": created})[:-1].encode()

        def line(i, text):
            return (
                head + b',"message":{"role":"assistant","content":' + json.dumps(text).encode() + b'},"done":false}\n'
            )

        self._start_chunked(writer, "application/x-ndjson")
        count, finish = await self._pieces(b, limit, writer, line)
        if count is None:
            return await self._fail(
                finish, writer, b'{"error":"an error was encountered while running the model"}\n', b"{not json\n"
            )
        if b.mode != "no_final":
            final = {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": finish,
                "total_duration": 1_000_000 * (count + 1),
                "load_duration": 1_000_000,
                "prompt_eval_count": _prompt_tokens(payload),
                "prompt_eval_duration": 100_000,
                "eval_count": count,
                "eval_duration": 1_000_000 * count,
            }
            writer.write(self._chunk(json.dumps(final).encode() + b"\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _openai(self, payload: dict, b: Behaviour, writer):
        model = payload["model"]
        if b.mode == "http500":
            error = {"message": "Internal error", "type": "server_error", "param": None, "code": "internal_error"}
            return await self._json(writer, 500, {"error": error})
        if b.mode == "timeout":
            await asyncio.sleep(3600)
        limit = payload.get("max_tokens")
        cid, created = "chatcmpl-fake", int(time.time())
        head = json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model})[
            :-1
        ].encode()
        if not payload.get("stream"):
            count = b.tokens if limit is None else min(b.tokens, limit)
            body = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(f"tok{i} " for i in range(count))},
                        "finish_reason": "length" if count < b.tokens else "stop",
                    }
                ],
                "usage": _usage(payload, count),
            }
            return await self._json(writer, 200, body)

        def event(i, text):
            return (
                head
                + b',"choices":[{"index":0,"delta":{"content":'
                + json.dumps(text).encode()
                + b'},"finish_reason":null}]}\n\n'
            )

        self._start_chunked(writer, "text/event-stream")
        if b.comments:
            writer.write(self._chunk(b": OPENROUTER PROCESSING\n\n"))
        writer.write(
            self._chunk(
                b"data: "
                + head
                + b',"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
            )
        )
        count, finish = await self._pieces(b, limit, writer, lambda i, text: b"data: " + event(i, text))
        if count is None:
            error = {"error": {"code": 502, "message": "Provider returned error", "metadata": {}}}
            return await self._fail(
                finish, writer, b"data: " + json.dumps(error).encode() + b"\n\n", b"data: {not json\n\n"
            )
        writer.write(
            self._chunk(
                b"data: " + head + b',"choices":[{"index":0,"delta":{},"finish_reason":"%s"}]}\n\n' % finish.encode()
            )
        )
        include_usage = (payload.get("stream_options") or {}).get("include_usage")
        if include_usage and b.mode != "no_usage":
            usage = json.dumps(_usage(payload, count)).encode()
            writer.write(self._chunk(b"data: " + head + b',"choices":[],"usage":' + usage + b"}\n\n"))
        if b.mode != "no_final":
            writer.write(self._chunk(b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _prompt_tokens(payload: dict) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in payload.get("messages") or []) + 1


def _usage(payload: dict, count: int) -> dict:
    prompt = _prompt_tokens(payload)
    return {"prompt_tokens": prompt, "completion_tokens": count, "total_tokens": prompt + count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Ollama / OpenAI-compatible model server (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long (bounded runs)")
    args = parser.parse_args(argv)

    async def run():
        server = FakeUpstream(Behaviour(tokens=args.tokens, delay_ms=args.delay_ms), port=args.port)
        print(f"listening {await server.start()}", flush=True)
        try:
            await asyncio.sleep(args.max_seconds)
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
