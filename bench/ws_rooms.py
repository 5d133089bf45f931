"""Ticket rooms under load: ``python -m bench ws_rooms [--subscribers 500] [--messages 50] [--rooms 50] [--seconds 10]``.

Starts a daphne server (loopback, a temporary SQLite database, channels-redis on
``REDIS_URL`` with a private key prefix) and drives it with real WebSocket
clients from this process:

1. fan-out: ``--subscribers`` sockets join one ticket; a staff socket posts
   ``--messages`` messages one after another; for each, the time from sending
   until the *last* subscriber has the ``new_message`` (p50/p99), and until the
   median subscriber has it;
2. throughput: ``--rooms`` tickets with the same sockets spread over them and one
   poster per room posting in a closed loop (send, wait for the ack) for
   ``--seconds``: messages/s stored and broadcast, and deliveries/s.

Everything (server, Redis, clients) shares this machine's cores, so figures are
noisy; the clients' own JSON decoding is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETUP = r"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import Role, User
from accounts.services import tokens_for_user
from tickets.models import Ticket
owner = User.objects.create_user(username="bench-owner", password="x-unused-x", role=Role.USER)
staff = User.objects.create_user(username="bench-staff", password="x-unused-x", role=Role.MODERATOR)
rooms = int(__import__("os").environ["BENCH_ROOMS"])
tickets = [Ticket.objects.create(owner=owner, subject=f"bench {n}").pk for n in range(rooms + 1)]
print(json.dumps({"token": tokens_for_user(user=staff)["access"], "tickets": tickets}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise RuntimeError("daphne did not start")


class Subscriber:
    def __init__(self, ws):
        self.ws = ws
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.histories = 0
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            now = time.perf_counter()
            if '"new_message"' in raw:
                event = json.loads(raw)
                self.arrivals[event["message"]["content"]] = now
                self.count += 1
            elif '"message_history"' in raw:
                self.histories += 1


async def _connect(url: str, n: int, batch: int = 25) -> list:
    import websockets

    sockets = []
    for start in range(0, n, batch):
        # No client keepalive pings: a busy single-threaded client must not time its own sockets out.
        sockets += await asyncio.gather(
            *(
                websockets.connect(url, max_size=2**20, open_timeout=60, ping_interval=None)
                for _ in range(start, min(n, start + batch))
            )
        )
    return sockets


async def _join(ws, ticket_id: int) -> None:
    await ws.send(json.dumps({"type": "join_ticket", "ticket_id": ticket_id}))
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if event["type"] == "message_history":
            return


async def _post(ws, ticket_id: int, text: str) -> None:
    await ws.send(json.dumps({"type": "send_message", "ticket_id": ticket_id, "message": text}))
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if event["type"] == "message_sent":
            return
        if event["type"] == "error":
            raise RuntimeError(event["detail"])


async def _run(args, port: int, token: str, tickets: list[int]) -> dict:
    url = f"ws://127.0.0.1:{port}/ws/tickets/?token={token}"
    raw = await _connect(url, args.subscribers)
    # Subscribers read raw frames themselves; the poster drains its own socket in _post.
    for start in range(0, len(raw), 25):
        await asyncio.gather(*(_join(ws, tickets[0]) for ws in raw[start : start + 25]))
    subs = [Subscriber(ws) for ws in raw]
    [poster] = await _connect(url, 1)

    # 1. fan-out latency in one room
    last, median, acked = [], [], []
    for n in range(args.messages):
        text = f"fanout-{n}"
        t0 = time.perf_counter()
        await _post(poster, tickets[0], text)
        acked.append((time.perf_counter() - t0) * 1000)
        deadline = time.monotonic() + 10
        while any(text not in s.arrivals for s in subs) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        got = [s.arrivals[text] - t0 for s in subs if text in s.arrivals]
        if len(got) < len(subs):
            print(f"  message {n}: only {len(got)}/{len(subs)} subscribers had it after 10 s", file=sys.stderr)
        if got:
            last.append(max(got) * 1000)
            median.append(statistics.median(got) * 1000)

    # 2. throughput: the same sockets spread over the rooms, one poster per room
    rooms = tickets[1 : args.rooms + 1]
    for i, ws in enumerate(raw):
        await ws.send(json.dumps({"type": "leave_ticket", "ticket_id": tickets[0]}))
        await ws.send(json.dumps({"type": "join_ticket", "ticket_id": rooms[i % len(rooms)]}))
    deadline = time.monotonic() + 60
    while any(s.histories < 1 for s in subs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # every socket is in its new room
    posters = await _connect(url, len(rooms))
    before = sum(s.count for s in subs)
    posted = 0
    stop = time.perf_counter() + args.seconds

    async def loop(ws, ticket_id):
        nonlocal posted
        k = 0
        while time.perf_counter() < stop and k < 100_000:
            await _post(ws, ticket_id, f"tp-{ticket_id}-{k}")
            posted += 1
            k += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(ws, t) for ws, t in zip(posters, rooms, strict=True)))
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1)
    delivered = sum(s.count for s in subs) - before

    for ws in [*raw, poster, *posters]:
        await ws.close()
    for s in subs:
        s.task.cancel()
    return {
        "last": last,
        "median": median,
        "acked": acked,
        "posted_per_s": posted / elapsed,
        "delivered_per_s": delivered / (elapsed + 1),
        "expected_per_message": args.subscribers / len(rooms),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ws_rooms")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--pubsub", action="store_true", help="serve with channels-redis' pub/sub layer (bench/_pubsub_settings.py)"
    )
    args = parser.parse_args(argv)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    with tempfile.TemporaryDirectory(prefix="ws-rooms-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench._pubsub_settings" if args.pubsub else "voidsite.settings",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
            "DATA_DIR": tmp,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
            "LOG_LEVEL": "WARNING",
            "TICKETS_WS_RATE": "10000",
            "TICKETS_WS_BURST": "10000",
            "FIREBASE_CREDENTIALS": "",
            "BENCH_ROOMS": str(args.rooms),
        }
        env.pop("DATABASE_URL", None)
        env.pop("VOIDSITE_TESTING", None)
        setup = subprocess.run(
            [sys.executable, "-c", SETUP], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
        )
        if setup.returncode != 0:
            print(setup.stderr, file=sys.stderr)
            return 1
        data = json.loads(setup.stdout.strip().splitlines()[-1])
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-e",
                f"tcp:port={port}:interface=127.0.0.1:backlog=4096",
                "--websocket_connect_timeout",
                "60",
                "voidsite.asgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "daphne.log", "w"),
        )
        try:
            asyncio.run(_wait_port(port))
            result = asyncio.run(_run(args, port, data["token"], data["tickets"]))
        except Exception:
            print((Path(tmp) / "daphne.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()

    last, median = result["last"], result["median"]
    layer = "RedisPubSubChannelLayer" if args.pubsub else "RedisChannelLayer"
    print(f"ws_rooms: daphne (1 process) + channels-redis {layer} ({redis_url.rsplit('/', 1)[0]}/…), SQLite, loopback")
    print(f"{'measure':<52}{'value':>12}")
    print(f"{'fan-out: subscribers in one room':<52}{args.subscribers:>12}")
    print(f"{'fan-out: messages measured':<52}{len(last):>12}")
    if last:
        print(f"{'last subscriber has it, p50 (ms)':<52}{_pct(last, 0.5):>12.1f}")
        print(f"{'last subscriber has it, p99 (ms)':<52}{_pct(last, 0.99):>12.1f}")
        print(f"{'median subscriber has it, p50 (ms)':<52}{_pct(median, 0.5):>12.1f}")
        print(f"{'poster has its ack (stored, sent to the room), p50 (ms)':<52}{_pct(result['acked'], 0.5):>12.1f}")
    print(f"{'throughput: rooms (one closed-loop poster each)':<52}{args.rooms:>12}")
    print(f"{'messages/s stored and broadcast':<52}{result['posted_per_s']:>12.1f}")
    print(f"{'deliveries/s to sockets':<52}{result['delivered_per_s']:>12.1f}")
    print(
        "Limits: with RedisChannelLayer every subscriber costs one Redis list entry and one BZPOPMIN\n"
        "round trip in the process's single receive loop, so fan-out time grows with the room size;\n"
        "--pubsub (RedisPubSubChannelLayer) publishes once per room and fans out in memory. Then one\n"
        "daphne process is one core: the DB write runs on Channels' single DB thread (the ack time) and\n"
        "every frame is serialised and written by that process. Clients, Redis and the server share the\n"
        "same 2 cores with other work here, so the figures are noisy."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
