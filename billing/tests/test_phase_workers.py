"""The metering worker threads: every phase's result (or exception) reaches the
coroutine that awaits it, however many are queued at once, and the workers
outlive a failing phase."""

from __future__ import annotations

import asyncio
import threading

import pytest

from billing.metering import _PhaseWorkers


async def test_many_queued_phases_each_get_their_own_result_from_few_threads():
    workers = _PhaseWorkers(threads=2, batch=8)
    seen_threads = set()

    def phase(n):
        seen_threads.add(threading.get_ident())
        return n * n

    results = await asyncio.gather(*(workers.submit(lambda n=n: phase(n)) for n in range(200)))
    assert results == [n * n for n in range(200)]
    assert threading.get_ident() not in seen_threads and 1 <= len(seen_threads) <= 2


async def test_a_failing_phase_raises_in_its_caller_and_the_worker_lives_on():
    workers = _PhaseWorkers(threads=1, batch=8)

    def boom():
        raise ValueError("no such balance")

    ok, failed, ok_after = await asyncio.gather(
        workers.submit(lambda: "first"), workers.submit(boom), workers.submit(lambda: "after"), return_exceptions=True
    )
    assert (ok, ok_after) == ("first", "after")
    assert isinstance(failed, ValueError) and str(failed) == "no such balance"
    assert await workers.submit(lambda: 42) == 42


async def test_a_cancelled_caller_does_not_break_the_others():
    workers = _PhaseWorkers(threads=1, batch=8)
    gate = threading.Event()
    slow = workers.submit(lambda: gate.wait(5))
    cancelled = workers.submit(lambda: "nobody waits")
    cancelled.cancel()
    later = workers.submit(lambda: "still delivered")
    gate.set()
    assert await slow is True
    assert await later == "still delivered"
    with pytest.raises(asyncio.CancelledError):
        await cancelled


@pytest.mark.django_db(transaction=True)
async def test_close_connections_reaches_every_worker():
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("Django ignores close() on the in-memory SQLite test database")
    workers = _PhaseWorkers(threads=3, batch=1)

    def uses_the_database():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return connection.connection is not None

    assert all(await asyncio.gather(*(workers.submit(uses_the_database) for _ in range(12))))
    await asyncio.to_thread(workers.close_connections)
    assert await workers.submit(lambda: connection.connection is None)
