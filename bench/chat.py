"""Chat gateway benchmark: ``python -m bench chat [--postgres [URL]] [--quick] [--no-seed]``.

Everything runs on 127.0.0.1, in bounded loops:

- the fake model server (``fakes.upstream``, its own process) streams 64-token replies;
- voidsite under daphne (one process, backlog 4096) routes ``bench-ollama`` and
  ``bench-openai`` to it, metering every request (device quota on
  ``/chat/stream``, user token balances on ``/v1/chat/completions``; a ledger
  row each);
- the VOID seed (FastAPI + uvicorn, from the shared seeds folder) is the
  baseline for ``/chat/stream`` when fastapi / uvicorn / python-dotenv / redis
  are installed (``pip install -r requirements-bench.txt``) and Redis answers.

For each target and concurrency 1, 10 and 100 it prints time to first body
byte and total time (p50 / p99), requests/s and the server's CPU time per
request (its utime + stime from /proc over the run ÷ requests), then holds
1,000 concurrent long streams (200 tokens, 20 ms apart) through one voidsite
process and reports drops and its peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")
MESSAGES = [{"role": "user", "content": "hello bench"}]
TOKEN = re.compile(rb"tok\d+ ")


# --- processes --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, all threads


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_fake(tokens: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [PY, "-m", "fakes.upstream", "--port", "0", "--tokens", str(tokens), "--max-seconds", "1800"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        stop(proc)
        raise RuntimeError(f"fake upstream did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def voidsite_env(fake_url: str, database_url: str | None, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env.update(
        SECRET_KEY="bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DATA_DIR=str(data_dir),
        CHAT_MODELS=("bench-ollama=ollama:fake,bench-openai=openai:fake,bench-long=ollama:fake?tokens=200&delay_ms=20"),
        DEFAULT_MODEL="bench-openai",
        VOID_MODEL="bench-ollama",
        OLLAMA_BASE_URL=fake_url,
        OPENAI_COMPAT_BASE_URL=fake_url + "/v1",
        FREE_LIMIT="1000000000",
        RL_MAX_REQUESTS_IP="1000000000",
        CHAT_MAX_CONCURRENT_STREAMS="0",
        TRUSTED_PROXIES=HOST,  # the bench sends X-Forwarded-For so each worker is its own device
        PYTHONUNBUFFERED="1",
    )
    env.pop("VOIDSITE_TESTING", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


SETUP = """
import json
from accounts.models import User
from accounts.services import tokens_for_user
from billing.services import token_balance_for
out = []
for i in range({n}):
    user, _ = User.objects.get_or_create(username=f"bench{{i}}")
    token_balance_for(user=user)
    out.append(tokens_for_user(user=user)["access"])
print("TOKENS " + json.dumps(out))
"""


def prepare_voidsite(env: dict[str, str], users: int) -> list[str]:
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c", SETUP.format(n=users)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("TOKENS "))
    return json.loads(line[len("TOKENS ") :])


def _recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_voidsite(env: dict[str, str], log: str | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL
    daphne = str(Path(PY).parent / "daphne")
    proc = subprocess.Popen(
        # As scripts/serve.sh and the README's deployment notes: -v 0, no daphne access log.
        [daphne, "-v", "0", "-e", f"tcp:port={port}:interface={HOST}:backlog=4096", "voidsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
    )
    wait_port(port, proc)
    return proc, port


def shared_dir() -> Path:
    if os.environ.get("VOIDSITE_SHARED"):
        return Path(os.environ["VOIDSITE_SHARED"])
    sibling = ROOT.parent / "shared"
    return sibling if sibling.is_dir() else Path("/work/shared")


def start_seed(fake_url: str, redis_url: str, work: Path) -> tuple[subprocess.Popen | None, int, str]:
    """The VOID seed under uvicorn, or (None, 0, reason)."""
    missing = [m for m in ("fastapi", "uvicorn", "dotenv", "redis") if not _importable(m)]
    if missing:
        return None, 0, f"seed baseline skipped: missing {', '.join(missing)} (pip install -r requirements-bench.txt)"
    seeds = sorted((shared_dir() / "seeds").glob("000_*.txt"))
    if not seeds:
        return None, 0, f"seed baseline skipped: no VOID seed in {shared_dir() / 'seeds'}"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_timeout=1).ping()
    except Exception as exc:
        return None, 0, f"seed baseline skipped: Redis at {redis_url} does not answer ({type(exc).__name__})"
    app_dir = work / "seed"
    app_dir.mkdir()
    shutil.copy(seeds[0], app_dir / "main.py")
    env = {
        **os.environ,
        "OLLAMA_BASE_URL": fake_url,
        "OLLAMA_MODEL": "fake",
        "REDIS_URL": redis_url,
        "FREE_LIMIT": "1000000000",
        "RL_MAX_REQUESTS_IP": "1000000000",
        "DB_PATH": str(app_dir / "void.db"),
        "SERVER_SALT": "bench",
    }
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "main:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--backlog",
            "4096",
            "--log-level",
            "warning",
        ],
        cwd=app_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    return proc, port, ""


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- a small HTTP/1.1 keep-alive client (cheap, so the client steals little CPU) ----
@dataclass
class Target:
    name: str
    port: int
    path: str
    body: bytes
    headers: list  # per-worker header dicts (cycled)
    expect_tokens: int
    pid: int | None = None


@dataclass
class Result:
    ttfb: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    cpu: float | None = None


def _request_bytes(target: Target, worker: int) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in target.headers[worker % len(target.headers)].items())
    return (
        f"POST {target.path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(target.body)}\r\n{extra}\r\n"
    ).encode() + target.body


async def _one(reader, writer, raw: bytes) -> tuple[int, float, float, bytes]:
    t0 = time.perf_counter()
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    ttfb = None
    body = bytearray()
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            data = await reader.readexactly(size + 2)
            if ttfb is None:
                ttfb = time.perf_counter() - t0
            body += data[:-2]
    else:
        length = 0
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body += await reader.readexactly(length)
        ttfb = time.perf_counter() - t0
    if b"connection: close" in lower:
        raise ConnectionResetError("server closed the connection")
    return status, ttfb, time.perf_counter() - t0, bytes(body)


async def _worker(target: Target, worker: int, count: int, result: Result, deadline: float):
    raw = _request_bytes(target, worker)
    reader = writer = None
    for _ in range(count):
        if time.monotonic() > deadline:
            result.errors += 1
            continue
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, target.port, limit=1 << 20)
            status, ttfb, total, body = await asyncio.wait_for(_one(reader, writer, raw), 60)
            if status != 200 or body.count(b"tok") < target.expect_tokens:
                result.errors += 1
                continue
            result.ttfb.append(ttfb)
            result.total.append(total)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_load(target: Target, concurrency: int, requests: int) -> Result:
    result = Result()
    per_worker = max(1, requests // concurrency)
    cpu0 = cpu_seconds(target.pid) if target.pid else None
    t0 = time.perf_counter()
    deadline = time.monotonic() + 300
    await asyncio.gather(*(_worker(target, w, per_worker, result, deadline) for w in range(concurrency)))
    result.elapsed = time.perf_counter() - t0
    if cpu0 is not None:
        done = len(result.total) + result.errors
        result.cpu = (cpu_seconds(target.pid) - cpu0) / max(done, 1)
    return result


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


# --- the run ----------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench chat", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgres://postgres@127.0.0.1:5432/bench_chat",
        help="serve voidsite on PostgreSQL (the database is dropped and created); default embedded SQLite",
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    parser.add_argument("--quick", action="store_true", help="fewer requests and 200 long streams")
    parser.add_argument("--no-seed", action="store_true", help="skip the VOID seed baseline")
    parser.add_argument("--long", type=int, default=None, help="concurrent long streams (default 1000)")
    parser.add_argument("--server-log", help="append voidsite's output to this file (default: discarded)")
    parser.add_argument(
        "--part",
        choices=("all", "load", "long"),
        default="all",
        help="run only the load table or only the long streams",
    )
    args = parser.parse_args(argv)
    scale = {1: 100, 10: 500, 100: 2000} if not args.quick else {1: 30, 10: 100, 100: 300}
    long_streams = args.long or (200 if args.quick else 1000)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))

    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        work = Path(tmp)
        try:
            fake, fake_url = start_fake(64)
            procs.append(fake)
            if args.postgres:
                _recreate_database(args.postgres)
            env = voidsite_env(fake_url, args.postgres, work)
            tokens = prepare_voidsite(env, users=100)
            server, port = start_voidsite(env, args.server_log)
            procs.append(server)
            seed, seed_port, seed_note = (None, 0, "seed baseline skipped (--no-seed)")
            if not args.no_seed:
                seed, seed_port, seed_note = start_seed(fake_url, args.redis, work)
                if seed:
                    procs.append(seed)
            backend = "PostgreSQL" if args.postgres else "embedded SQLite"
            print(f"voidsite on daphne ({backend}); fake upstream {fake_url}; 64-token replies")
            print("caution: 2 shared cores; client, fake upstream and server compete for them (and so do other jobs)\n")
            targets = _targets(fake.pid, fake_url, server.pid, port, seed.pid if seed else None, seed_port, tokens)
            rows = []
            for target in targets if args.part != "long" else []:
                for conc, requests in scale.items():
                    asyncio.run(run_load(target, min(conc, 10), min(requests, 20)))  # warm-up
                    result = asyncio.run(run_load(target, conc, requests))
                    rows.append((target.name, conc, result))
                    _print_row(target.name, conc, result)
            if args.part != "long":
                if not seed:
                    print(f"\n{seed_note}")
                _summary(rows)
                print()
            if args.part != "load":
                _long_streams(port, server.pid, tokens, long_streams)
        finally:
            for proc in reversed(procs):
                stop(proc)
    return 0


def _targets(fake_pid, fake_url, pid, port, seed_pid, seed_port, tokens) -> list[Target]:
    fake_port = int(fake_url.rsplit(":", 1)[1])
    void_headers = [
        {
            "x-void-client-id": f"bench-client-{w:06d}",
            "x-void-browser-fp": f"bench-fp-{w:06d}-abcdef",
            "x-forwarded-for": f"10.77.{w // 250}.{w % 250 + 1}",
        }
        for w in range(1000)
    ]
    chat_body = json.dumps({"message": "hello bench"}).encode()
    openai_body = json.dumps(
        {"model": "bench-openai", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    ).encode()
    targets = [
        Target(
            "upstream /api/chat (direct)",
            fake_port,
            "/api/chat",
            json.dumps({"model": "fake", "messages": MESSAGES, "stream": True}).encode(),
            [{}],
            64,
            fake_pid,
        ),
        Target("voidsite /chat/stream", port, "/chat/stream", chat_body, void_headers, 64, pid),
    ]
    if seed_pid:
        targets.append(
            Target("VOID seed /chat/stream", seed_port, "/chat/stream", chat_body, void_headers, 64, seed_pid)
        )
    targets += [
        Target(
            "upstream /v1/chat/completions (direct)",
            fake_port,
            "/v1/chat/completions",
            json.dumps({"model": "fake", "messages": MESSAGES, "stream": True}).encode(),
            [{}],
            64,
            fake_pid,
        ),
        Target(
            "voidsite /v1/chat/completions",
            port,
            "/v1/chat/completions",
            openai_body,
            [{"authorization": f"Bearer {t}"} for t in tokens],
            64,
            pid,
        ),
    ]
    return targets


def _print_row(name: str, conc: int, r: Result) -> None:
    if not hasattr(_print_row, "header"):
        _print_row.header = True
        print(
            f"{'target':40} {'conc':>4} {'ok':>6} {'err':>4} {'ttfb p50':>9} {'ttfb p99':>9} "
            f"{'total p50':>9} {'total p99':>9} {'req/s':>8} {'cpu ms/req':>10}"
        )
    cpu = f"{r.cpu * 1000:10.2f}" if r.cpu is not None else f"{'-':>10}"
    print(
        f"{name:40} {conc:4d} {len(r.total):6d} {r.errors:4d} {pct(r.ttfb, 50):9.2f} {pct(r.ttfb, 99):9.2f} "
        f"{pct(r.total, 50):9.2f} {pct(r.total, 99):9.2f} {len(r.total) / r.elapsed:8.1f} {cpu}",
        flush=True,
    )


def _summary(rows) -> None:
    by = {(name, conc): r for name, conc, r in rows}
    void = by.get(("voidsite /chat/stream", 100))
    seed = by.get(("VOID seed /chat/stream", 100))
    if void and seed and seed.total:
        ratio = (len(void.total) / void.elapsed) / (len(seed.total) / seed.elapsed)
        print(f"\nreq/s at concurrency 100, voidsite vs VOID seed (/chat/stream): {ratio:.1f}x (target >= 5x)")
    for name in ("voidsite /chat/stream", "voidsite /v1/chat/completions"):
        cpus = [by[(name, c)].cpu for c in (1, 10, 100) if (name, c) in by and by[(name, c)].cpu is not None]
        if cpus:
            print(f"{name}: server CPU per request {min(cpus) * 1000:.2f}-{max(cpus) * 1000:.2f} ms (target <= 4 ms)")
        r1 = by.get((name, 1))
        if r1:
            print(f"{name}: TTFB p50 at concurrency 1 {pct(r1.ttfb, 50):.2f} ms (target <= 10 ms)")


def _long_streams(port: int, pid: int, tokens: list[str], n: int) -> None:
    """``n`` streams at once through ``/v1/chat/completions`` on ``bench-long`` (200 tokens, 20 ms apart)."""
    print(f"{n} concurrent long streams (200 tokens, 20 ms apart) through one voidsite process:", flush=True)
    ok, errors, elapsed = asyncio.run(_hold_long(port, tokens, n))
    print(
        f"  completed {ok}/{n}, dropped or failed {errors}, wall {elapsed:.1f} s, "
        f"peak RSS {peak_rss_mb(pid):.0f} MB (targets: none dropped, <= 300 MB)"
    )


async def _hold_long(port: int, tokens: list[str], n: int) -> tuple[int, int, float]:
    body = json.dumps({"model": "bench-long", "messages": MESSAGES, "stream": True}).encode()
    target = Target("long", port, "/v1/chat/completions", body, [{"authorization": f"Bearer {t}"} for t in tokens], 200)
    counts = {"ok": 0, "err": 0}

    async def one(worker: int):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, limit=1 << 20), 30)
            try:
                status, _, _, data = await asyncio.wait_for(_one(reader, writer, _request_bytes(target, worker)), 300)
            finally:
                writer.close()
            complete = status == 200 and len(TOKEN.findall(data)) == 200 and data.endswith(b"data: [DONE]\n\n")
            counts["ok" if complete else "err"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            counts["err"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(n)))
    return counts["ok"], counts["err"], time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
