import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from botconfig.defaults import DEFAULTS
from botconfig.models import ConfigSection
from tickets import services
from tickets.models import MessageSource, Ticket, TicketMessage, TicketStatus, Transcript


def _age(ticket, hours):
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now() - timedelta(hours=hours))


@pytest.mark.django_db
def test_stale_tickets_are_closed_with_a_system_message_and_a_transcript(user, open_ticket):
    stale, fresh = open_ticket(user), open_ticket(user)
    _age(stale, 73)
    _age(fresh, 71)
    out = StringIO()
    call_command("close_stale_tickets", stdout=out)
    assert f"closed 1 stale ticket(s): {stale.pk}" in out.getvalue()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == TicketStatus.CLOSED and stale.closed_by is None
    assert fresh.status == TicketStatus.OPEN
    note = TicketMessage.objects.filter(ticket=stale).order_by("-id").first()
    assert note.source == MessageSource.SYSTEM and "72 hours" in note.content
    assert Transcript.objects.filter(ticket=stale).count() == 1


@pytest.mark.django_db
def test_running_it_again_changes_nothing(user, open_ticket):
    ticket = open_ticket(user)
    _age(ticket, 100)
    call_command("close_stale_tickets", stdout=StringIO())
    out = StringIO()
    call_command("close_stale_tickets", stdout=out)
    assert "closed 0" in out.getvalue()
    assert TicketMessage.objects.filter(ticket=ticket, source=MessageSource.SYSTEM).count() == 1


@pytest.mark.django_db
def test_zero_hours_turns_auto_close_off(user, open_ticket):
    ConfigSection.objects.create(name="tickets", data={**DEFAULTS["tickets"], "auto_close_hours": 0})
    ticket = open_ticket(user)
    _age(ticket, 10_000)
    assert services.tickets_close_stale() == []


@pytest.mark.django_db
def test_a_new_message_keeps_a_ticket_alive(user, open_ticket):
    ticket = open_ticket(user)
    _age(ticket, 100)
    services.ticket_message_send(ticket_id=ticket.pk, author=user, content="still here", source="web")
    assert services.tickets_close_stale() == []


@pytest.mark.django_db(transaction=True)
def test_two_cron_runs_at_once_close_each_ticket_once(require_postgres, user, open_ticket):
    tickets = [open_ticket(user) for _ in range(3)]
    for ticket in tickets:
        _age(ticket, 100)
    barrier, results = threading.Barrier(2), []

    def run():
        barrier.wait()
        try:
            results.append(services.tickets_close_stale())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(pk for closed in results for pk in closed) == sorted(t.pk for t in tickets)
    for ticket in tickets:
        assert TicketMessage.objects.filter(ticket=ticket, source=MessageSource.SYSTEM).count() == 1
        assert Transcript.objects.filter(ticket=ticket).count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_opens_cannot_pass_the_limit(require_postgres, user):
    ConfigSection.objects.create(name="tickets", data={**DEFAULTS["tickets"], "max_open_per_user": 2})
    barrier, outcomes = threading.Barrier(4), []

    def run(n):
        barrier.wait()
        try:
            services.ticket_open(owner=user, subject=f"s{n}", content="m")
            outcomes.append("ok")
        except services.TicketConflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "ok", "refused", "refused"]
    assert Ticket.objects.filter(owner=user, status=TicketStatus.OPEN).count() == 2
