import pytest

from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def test_admin_searches_tickets_by_message_content_and_user(client, admin_user, make_user, open_ticket):
    alice, bob = make_user(username="alice"), make_user(username="bob")
    open_ticket(alice, subject="first", message="printer on fire")
    open_ticket(bob, subject="second", message="login loop")
    client.force_login(admin_user)
    by_content = client.get("/admin/tickets/ticket/", {"q": "printer"}).content.decode()
    assert "first" in by_content and "second" not in by_content
    by_user = client.get("/admin/tickets/ticket/", {"q": "bob"}).content.decode()
    assert "second" in by_user and "first" not in by_user


def test_admin_closes_and_reopens_with_actions(client, admin_user, user, open_ticket):
    ticket = open_ticket(user)
    client.force_login(admin_user)
    client.post("/admin/tickets/ticket/", {"action": "close_tickets", "_selected_action": [ticket.pk]})
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.CLOSED
    client.post("/admin/tickets/ticket/", {"action": "reopen_tickets", "_selected_action": [ticket.pk]})
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN
    assert client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").status_code == 200
