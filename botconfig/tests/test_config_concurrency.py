"""Concurrent writers of one section on PostgreSQL (row locks do nothing on SQLite)."""

import threading

import pytest
from django.db import connection

from botconfig import services
from botconfig.selectors import config_get

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _run_concurrently(*calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_writers_without_if_match_lose_no_field(require_postgres, admin_user):
    results = _run_concurrently(
        lambda: services.config_update(
            name="general", values={"bot_name": "A"}, user=admin_user, expected_version=None
        ),
        lambda: services.config_update(
            name="general", values={"message_cooldown": 42}, user=admin_user, expected_version=None
        ),
    )
    assert sorted(version for _, version in results) == [2, 3]
    values = config_get("general")
    assert (values["bot_name"], values["message_cooldown"]) == ("A", 42)


def test_two_writers_with_the_same_if_match_one_wins_one_gets_a_conflict(require_postgres, admin_user):
    results = _run_concurrently(
        lambda: services.config_update(name="welcome", values={"rules_text": "A"}, user=admin_user, expected_version=1),
        lambda: services.config_update(name="welcome", values={"rules_text": "B"}, user=admin_user, expected_version=1),
    )
    conflicts = [r for r in results if isinstance(r, services.ConfigConflict)]
    wins = [r for r in results if isinstance(r, tuple)]
    assert len(conflicts) == 1 and len(wins) == 1
    assert config_get("welcome")["rules_text"] == wins[0][0]["rules_text"]
