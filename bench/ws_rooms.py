"""Ticket rooms under load: ``python -m bench ws_rooms [--subscribers 500] [--messages 50] [--rooms 50]
[--seconds 10] [--layer pubsub|core] [--workers 1] [--clients 1]``.

Starts ``--workers`` daphne processes (loopback, one temporary SQLite database,
channels-redis on ``REDIS_URL`` with a private key prefix, ``CHANNEL_LAYER=--layer``)
and drives them with real WebSocket clients: the subscribers are spread over the
workers and over ``--clients`` client processes; the posters live in this process
and talk to the first worker.

1. fan-out: ``--subscribers`` sockets join one ticket; a staff socket posts
   ``--messages`` messages one after another; for each, the time from sending
   until the *last* subscriber has the ``new_message`` (p50/p99), and until the
   median subscriber has it (arrival times are CLOCK_MONOTONIC, shared by all
   processes on the machine);
2. throughput: ``--rooms`` tickets with the same sockets spread over them and one
   poster per room posting in a closed loop (send, wait for the ack) for
   ``--seconds``: messages/s stored and broadcast, and deliveries/s.

Everything (servers, Redis, clients) shares this machine's cores, so figures are
noisy; the clients' own frame parsing and JSON decoding is part of what is measured.
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
            now = time.monotonic()
            if '"new_message"' in raw:
                event = json.loads(raw)
                self.arrivals[event["message"]["content"]] = now
                self.count += 1
            elif '"message_history"' in raw:
                self.histories += 1


async def _client_process(spec: dict) -> None:
    """One client process: its share of the subscribers, driven by JSON lines on stdin.

    ``{"expect": text}`` → ``{"text", "arrivals"}`` once every socket has it (10 s at most);
    ``{"rooms": [...]}`` → moves the sockets to those rooms, ``{"ready": true}`` once joined;
    ``{"count": true}`` → ``{"count": n}`` new_message events so far; ``{"close": true}``.
    """
    urls, first, n = spec["urls"], spec["first"], spec["n"]
    raw = []
    for k in range(len(urls)):  # subscriber g (global index) talks to worker g % workers
        mine = sum(1 for g in range(first, first + n) if g % len(urls) == k)
        raw += await _connect(urls[k], mine)
    for start in range(0, len(raw), 25):
        await asyncio.gather(*(_join(ws, spec["ticket"]) for ws in raw[start : start + 25]))
    subs = [Subscriber(ws) for ws in raw]
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    say({"ready": True})
    while line := await reader.readline():
        cmd = json.loads(line)
        if "expect" in cmd:
            text, deadline = cmd["expect"], time.monotonic() + 10
            while any(text not in s.arrivals for s in subs) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            say({"text": text, "arrivals": [s.arrivals[text] for s in subs if text in s.arrivals]})
        elif "rooms" in cmd:
            rooms = cmd["rooms"]
            for i, ws in enumerate(raw):
                await ws.send(json.dumps({"type": "leave_ticket", "ticket_id": spec["ticket"]}))
                await ws.send(json.dumps({"type": "join_ticket", "ticket_id": rooms[(first + i) % len(rooms)]}))
            deadline = time.monotonic() + 60
            while any(s.histories < 1 for s in subs) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # every socket is in its new room
            say({"ready": True})
        elif "count" in cmd:
            say({"count": sum(s.count for s in subs)})
        elif "close" in cmd:
            break
    for ws in raw:
        await ws.close()
    for s in subs:
        s.task.cancel()


class ClientProcess:
    def __init__(self, proc):
        self.proc = proc

    @classmethod
    async def start(cls, spec: dict, env: dict) -> ClientProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ws_rooms",
            "--client-process",
            json.dumps(spec),
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        return cls(proc)

    async def ask(self, obj: dict | None) -> dict:
        if obj is not None:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 300)
        if not line:
            raise RuntimeError("a client process died")
        return json.loads(line)


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


async def _run(args, ports: list[int], token: str, tickets: list[int], env: dict) -> dict:
    urls = [f"ws://127.0.0.1:{port}/ws/tickets/?token={token}" for port in ports]
    share = [
        args.subscribers // args.clients + (1 if k < args.subscribers % args.clients else 0)
        for k in range(args.clients)
    ]
    starts = [sum(share[:k]) for k in range(args.clients)]
    clients = await asyncio.gather(
        *(
            ClientProcess.start({"urls": urls, "first": first, "n": n, "ticket": tickets[0]}, env)
            for first, n in zip(starts, share, strict=True)
        )
    )
    await asyncio.gather(*(c.ask(None) for c in clients))  # every subscriber has joined
    [poster] = await _connect(urls[0], 1)

    # 1. fan-out latency in one room
    last, median, acked = [], [], []
    for n in range(args.messages):
        text = f"fanout-{n}"
        waits = [asyncio.create_task(c.ask({"expect": text})) for c in clients]
        t0 = time.monotonic()
        await _post(poster, tickets[0], text)
        acked.append((time.monotonic() - t0) * 1000)
        got = [t - t0 for answer in await asyncio.gather(*waits) for t in answer["arrivals"]]
        if len(got) < args.subscribers:
            print(f"  message {n}: only {len(got)}/{args.subscribers} subscribers had it after 10 s", file=sys.stderr)
        if got:
            last.append(max(got) * 1000)
            median.append(statistics.median(got) * 1000)

    # 2. throughput: the same sockets spread over the rooms, one poster per room
    rooms = tickets[1 : args.rooms + 1]
    await asyncio.gather(*(c.ask({"rooms": rooms}) for c in clients))
    posters = await _connect(urls[0], len(rooms))

    async def delivered() -> int:
        return sum(answer["count"] for answer in await asyncio.gather(*(c.ask({"count": True}) for c in clients)))

    before = await delivered()
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
    total = await delivered() - before

    for ws in [poster, *posters]:
        await ws.close()
    for c in clients:
        c.proc.stdin.write(b'{"close": true}\n')
        await c.proc.stdin.drain()
    await asyncio.gather(*(c.proc.wait() for c in clients))
    return {
        "last": last,
        "median": median,
        "acked": acked,
        "posted": posted,
        "posted_per_s": posted / elapsed,
        "delivered": total,
        "delivered_per_s": total / (elapsed + 1),
        "expected_per_message": args.subscribers / len(rooms),
    }


def _summary(args, result: dict, redis_url: str) -> None:
    last, median = result["last"], result["median"]
    print(
        f"ws_rooms: {args.workers} daphne process(es) + channels-redis CHANNEL_LAYER={args.layer} "
        f"({redis_url.rsplit('/', 1)[0]}/…), SQLite, loopback; subscribers in {args.clients} client process(es)"
    )
    print(f"{'measure':<56}{'value':>12}")
    print(f"{'fan-out: subscribers in one room':<56}{args.subscribers:>12}")
    print(f"{'fan-out: messages measured':<56}{len(last):>12}")
    if last:
        print(f"{'last subscriber has it, p50 (ms)':<56}{_pct(last, 0.5):>12.1f}")
        print(f"{'last subscriber has it, p99 (ms)':<56}{_pct(last, 0.99):>12.1f}")
        print(f"{'median subscriber has it, p50 (ms)':<56}{_pct(median, 0.5):>12.1f}")
        print(f"{'poster has its ack (stored, sent to the room), p50 (ms)':<56}{_pct(result['acked'], 0.5):>12.1f}")
    print(f"{'throughput: rooms (one closed-loop poster each)':<56}{args.rooms:>12}")
    print(f"{'messages/s stored and broadcast':<56}{result['posted_per_s']:>12.1f}")
    print(f"{'deliveries/s to sockets (within 1 s after the last post)':<56}{result['delivered_per_s']:>12.1f}")
    expected = result["posted"] * result["expected_per_message"]
    print(f"{'deliveries / (posted x sockets per room)':<56}{result['delivered'] / max(expected, 1):>12.2f}")
    print(
        "Limits: each daphne process is one core. A room event costs, per socket, one channel-layer\n"
        "delivery (core: one Redis entry and one BZPOPMIN round trip in the process's receive loop;\n"
        "pubsub: one in-memory queue put) and one WebSocket frame written by that process; a post costs\n"
        "a write on Channels' single database thread (the ack). Clients, Redis and the servers share\n"
        "the same cores with whatever else runs on the machine, so the figures are noisy."
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ws_rooms")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--layer",
        choices=["pubsub", "core"],
        default=os.environ.get("CHANNEL_LAYER", "pubsub"),
        help="channels-redis layer (CHANNEL_LAYER); default: $CHANNEL_LAYER, else pubsub",
    )
    parser.add_argument("--workers", type=int, default=1, help="daphne processes sharing Redis and the database")
    parser.add_argument("--clients", type=int, default=1, help="client processes the subscribers are spread over")
    parser.add_argument("--client-process", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_process:
        asyncio.run(_client_process(json.loads(args.client_process)))
        return 0
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    with tempfile.TemporaryDirectory(prefix="ws-rooms-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "voidsite.settings",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
            "DATA_DIR": tmp,
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER": args.layer,
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
        ports = [_free_port() for _ in range(args.workers)]
        servers = [
            subprocess.Popen(
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
                stderr=open(Path(tmp) / f"daphne-{port}.log", "w"),
            )
            for port in ports
        ]
        try:
            for port in ports:
                asyncio.run(_wait_port(port))
            result = asyncio.run(_run(args, ports, data["token"], data["tickets"], env))
        except Exception:
            for port in ports:
                print((Path(tmp) / f"daphne-{port}.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()

    _summary(args, result, redis_url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
